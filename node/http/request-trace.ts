// Ends a request's trace (node/tracing) from what its Relay recorded: the request span, the
// upstream call's span, the access-log fields that tie a log line to its trace.
import type { RequestTrace, Tracer } from '../tracing/index.js';
import type { Relay } from './relay.js';

/** End `relay`'s trace; `reason` is the access-log reason (null: a complete relay). */
export function endRelayTrace(tracer: Tracer, t: RequestTrace, relay: Relay, reason: string | null, end: number): void {
  const ctx = relay.ctx;
  tracer.end(t, {
    method: ctx.method, route: ctx.route.name, path: ctx.path, status: relay.status, outcome: relay.outcome, reason, deny: ctx.denyReason,
    client: ctx.remoteAddress, fingerprint: ctx.principal?.fingerprint ?? null, start: relay.start, end,
    upstream: relay.upstream !== null && t.upstreamSpanId !== null
      ? { name: relay.upstream.name, target: relay.target?.hostPort ?? '', start: relay.upstreamStart, headMs: relay.upstreamMs }
      : null,
  });
}
