// What a request on the HTTP/2 listener leaves behind once answered: its metrics, the end of its
// trace and its access-log line — for a relayed request (H2Relay) and for one the listener answered
// itself (refused before routing, or its own documents: no context, its trace starts and ends here).
import { performance } from 'node:perf_hooks';
import { rawPathWithoutTokens } from '../contracts/index.js';
import type { ErrorCode, ProxyError } from '../errors.js';
import { endRelayTrace } from '../http/request-trace.js';
import { keepAccessLine } from '../http/access-sampling.js';
import { accessFields } from '../http/access-line.js';
import type { Logger } from '../log.js';
import type { RequestMetrics } from '../metrics/index.js';
import type { Snapshot } from '../pipeline/snapshot.js';
import { forwardedClient } from '../pipeline/index.js';
import type { RequestHead } from './h2-request.js';
import type { H2Relay } from './h2-relay.js';
import type { AnyResponse } from './h2-respond.js';

/** Where a request's record goes (the listener's options). */
export interface H2RecordOptions {
  logger: Logger;
  metrics: RequestMetrics;
  accessLog: boolean;
  /** A line left out by routes[].access_log.sample_allowed (counted with the main listener's). */
  sampledOut?: () => void;
}

/** A relayed request ended (answered, failed or abandoned): metrics, trace end, access-log line. */
export function recordFinished(relay: H2Relay, o: H2RecordOptions): void {
  const m = o.metrics;
  const ms = performance.now() - relay.start;
  m.observe(relay.ctx.route.name, relay.status, ms / 1000, relay.bytesIn, relay.bytesOut);
  const reason = relay.errorKind ?? (relay.errorCode !== null ? errorReason(relay.errorCode) : null);
  if (relay.outcome !== 'complete') m.incomplete(relay.ctx.route.name, relay.outcome, reason ?? 'unknown');
  const tr = relay.ctx.trace;
  if (tr != null) endRelayTrace(relay.snap.tracer!, tr, relay, reason, performance.now());
  if (o.accessLog && !keepAccessLine(relay)) o.sampledOut?.();
  else if (o.accessLog) {
    o.logger.info({ listener: 'http2', protocol: protocolOf(relay.res), ...accessFields(relay, reason, ms) }, 'request');
  }
}

/** Metrics, trace and access log line of a request the listener answered itself before routing. */
export function recordRefused(req: RequestHead, protocol: 'h2' | 'h2c' | 'http/1.1', err: ProxyError, status: number, start: number, snapshot: Snapshot, o: H2RecordOptions): void {
  recordAnswered(req, protocol, { route: '(none)', status, reason: errorReason(err.code), bytesOut: 0 }, start, snapshot, o);
}

/**
 * Metrics, trace and access log line of a request the listener answered itself, with no context: refused
 * before routing, or one of the proxy's own documents (`(well-known)`: before, traced on HTTP/1.1 only).
 */
export function recordAnswered(req: RequestHead, protocol: 'h2' | 'h2c' | 'http/1.1', a: { readonly route: string; readonly status: number; readonly reason: string | null; readonly bytesOut: number }, start: number, snapshot: Snapshot, o: H2RecordOptions): void {
  const end = performance.now();
  const ms = end - start;
  const { route, status, reason } = a;
  o.metrics.observe(route, status, ms / 1000, 0, a.bytesOut);
  // `:path` carries the query (uWS hands the path alone): never logged, it may hold ?access_token=
  const target = req.url ?? '';
  const q = target.indexOf('?');
  const path = rawPathWithoutTokens(q === -1 ? target : target.slice(0, q));
  const logged = path.length > 512 ? `${path.slice(0, 512)}…` : path;
  const peer = req.remoteAddress;
  const trusted = snapshot.config.server.trust_forwarded;
  const client = trusted ? forwardedClient(req.rawHeaders, peer, snapshot.config.server.trusted_hops) : peer;
  // no context: its trace (tracing on) starts and ends here, as on the uWS listener
  const tracer = snapshot.tracer;
  const tr = tracer === null ? null : tracer.start(traceHeaders(req.rawHeaders));
  if (tr !== null) {
    tracer!.end(tr, {
      method: req.method ?? '', route, path: logged, status, outcome: 'complete', reason, deny: null, client, peer: trusted ? peer : undefined, fingerprint: null, start, end, upstream: null,
    });
  }
  if (!o.accessLog) return;
  o.logger.info({
    listener: 'http2', protocol, route, method: req.method, path: logged,
    status, outcome: 'complete', ...(reason !== null ? { reason } : {}), ms: Math.round(ms * 1000) / 1000, upstream_ms: null, bytes_in: 0, bytes_out: a.bytesOut, policy: snapshot.policyLabel,
    client, ...(trusted ? { peer } : {}), ...(tr !== null ? { trace_id: tr.traceId, span_id: tr.spanId } : {}),
  }, 'request');
}

/** Access-log `reason` of the proxy's own error answer (PORTCULLIS_ERR_ROUTE_NOT_FOUND → route_not_found). */
function errorReason(code: ErrorCode): string {
  return code.slice(15).toLowerCase();
}

/** The trace headers of a refused request as the tracer reads them (lower-case names, flat). */
function traceHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (k === 'traceparent' || k === 'tracestate') out.push(k, raw[i + 1]!);
  }
  return out;
}

/** How the client spoke: h2 (TLS), h2c (cleartext) or http/1.1 (TLS, ALPN fallback). */
export function protocolOf(res: AnyResponse): 'h2' | 'h2c' | 'http/1.1' {
  if (!('stream' in res)) return 'http/1.1';
  return (res.stream.session?.encrypted ?? false) ? 'h2' : 'h2c';
}
