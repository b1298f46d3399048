// Ends a request's trace (node/tracing) from what its relay recorded (uWS or HTTP/2 listener): the request span, the
// upstream call's span, the access-log fields that tie a log line to its trace.
import type { RequestTrace, Tracer } from '../tracing/index.js';
import type { RequestContext } from '../pipeline/index.js';

/** What either listener's relay (node/http Relay, node/http2 H2Relay) recorded about a request. */
export interface TracedRelay {
  readonly ctx: RequestContext;
  readonly status: number;
  readonly outcome: string;
  readonly start: number;
  readonly upstream: { readonly name: string } | null;
  readonly target: { readonly hostPort: string } | null;
  readonly upstreamStart: number;
  readonly upstreamMs: number;
}

/** End `relay`'s trace; `reason` is the access-log reason (null: a complete relay). */
export function endRelayTrace(tracer: Tracer, t: RequestTrace, relay: TracedRelay, reason: string | null, end: number): void {
  const ctx = relay.ctx;
  tracer.end(t, {
    method: ctx.method, route: ctx.route.name, path: ctx.path, status: relay.status, outcome: relay.outcome, reason, deny: ctx.denyReason,
    client: ctx.client ?? ctx.remoteAddress, peer: ctx.client === undefined ? undefined : ctx.remoteAddress, fingerprint: ctx.principal?.fingerprint ?? null, start: relay.start, end,
    upstream: relay.upstream !== null && t.upstreamSpanId !== null
      ? { name: relay.upstream.name, target: relay.target?.hostPort ?? '', start: relay.upstreamStart, headMs: relay.upstreamMs }
      : null,
  });
}
