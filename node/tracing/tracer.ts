// The process's tracer: starts a RequestTrace per request from the client's traceparent
// (parent-based sampling within a client budget, else a ratio of new traces), ends it with the request (server) span
// and the upstream (client) span, and hands sampled spans to the OTLP exporter.
import { pathWithoutTokens } from '../contracts/index.js';
import type { Logger } from '../log.js';
import { OtlpExporter } from './otlp-exporter.js';
import { RequestTrace, SPAN_KIND, type Attrs, type SpanRecord } from './span.js';
import { newSpanId, newTraceId, parseTraceparent, validTracestate } from './trace-context.js';

/** The `tracing` config section (node/config/observability-schema.ts), as the tracer reads it. */
export interface TracingSettings {
  readonly enabled: boolean;
  readonly endpoint: string;
  readonly service_name: string;
  /** Share of new traces (no valid client traceparent, or parent_based off) sampled, 0..1. */
  readonly sample_ratio: number;
  /** Follow the client's sampled flag when it sent a valid traceparent. */
  readonly parent_based: boolean;
  /** Requests per second (this process) a client's trace context may get recorded beyond sample_ratio. */
  readonly client_sampled_per_second: number;
  readonly batch: { readonly max_spans: number; readonly interval_ms: number };
  readonly max_queue_spans: number;
  readonly timeout_ms: number;
  /** Export headers: name and the environment variable holding the value (checked at start by node/config). */
  readonly headers: ReadonlyArray<{ readonly name: string; readonly value_env: string }>;
}

/** How a request ended, for its spans. */
export interface RequestEnd {
  readonly method: string;
  readonly route: string;
  readonly path: string;
  readonly status: number;
  readonly outcome: string;
  readonly reason: string | null;
  readonly deny: string | null;
  /** The client (client.address): behind a trusted front proxy, the one it named in X-Forwarded-For. */
  readonly client: string;
  /** The connection's peer (network.peer.address) when it differs in meaning from `client` (trust_forwarded); absent = `client` is the peer. */
  readonly peer?: string | undefined;
  readonly fingerprint: string | null;
  readonly start: number;
  readonly end: number;
  /** The upstream call, when the request was forwarded. */
  readonly upstream: { readonly name: string; readonly target: string; readonly start: number; readonly headMs: number } | null;
}

/**
 * Methods HTTP defines (OpenTelemetry semantic conventions' list): any other token a listener
 * routes (node:http2 takes any) is named `HTTP` and recorded as `_OTHER`, so a client cannot make
 * one span name — a trace backend's operation, a span-metrics series — per request.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** Longest `http.request.method_original` recorded (characters). */
const METHOD_ORIGINAL_MAX = 64;

/** Ratio → threshold on the 52 low bits of the trace id's first 13 hex digits (deterministic per trace). */
const RATIO_SPACE = 2 ** 52;

export class Tracer {
  private readonly exporter: OtlpExporter;
  private readonly threshold: number;
  private readonly counts = { sampled: 0, notSampled: 0, badParent: 0, clientLimited: 0 };
  /** Token bucket of client-directed samples (client_sampled_per_second, one second of burst). */
  private clientTokens: number;
  private clientTokensAt = performance.now();

  constructor(private readonly s: TracingSettings, logger: Logger, version: string, env: Readonly<Record<string, string | undefined>> = process.env) {
    this.threshold = s.sample_ratio * RATIO_SPACE;
    this.clientTokens = s.client_sampled_per_second === 0 ? 0 : Math.max(s.client_sampled_per_second, 1);
    this.exporter = new OtlpExporter({
      endpoint: s.endpoint, headers: Object.fromEntries(s.headers.map((h) => [h.name.toLowerCase(), env[h.value_env] ?? ''])), batchSpans: s.batch.max_spans, intervalMs: s.batch.interval_ms, maxQueueSpans: s.max_queue_spans, timeoutMs: s.timeout_ms,
      resource: [['service.name', s.service_name], ['service.version', version], ['process.pid', process.pid]],
      scope: { name: 'portcullis', version },
    }, logger.child({ component: 'tracing' }));
  }

  /** A trace for a request with these headers (flat name/value, names lower-case). Never throws. */
  start(headers: readonly string[]): RequestTrace {
    let tp: string | undefined;
    let ts: string | undefined;
    let many = false;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      if (k === 'traceparent') { if (tp !== undefined) many = true; tp = headers[i + 1]!; }
      else if (k === 'tracestate') ts = ts === undefined ? headers[i + 1]! : `${ts},${headers[i + 1]!}`;
    }
    // two traceparents are as good as none (W3C: a vendor may not pick one)
    const parent = tp === undefined || many ? null : parseTraceparent(tp);
    if (tp !== undefined && parent === null) this.counts.badParent++;
    const spanId = newSpanId();
    let sampled: boolean;
    if (parent === null) {
      const traceId = newTraceId();
      sampled = this.inRatio(traceId);
      if (sampled) this.counts.sampled++; else this.counts.notSampled++;
      return new RequestTrace(traceId, spanId, null, sampled, null);
    }
    // the client chose the flag and the id: what it asks for is recorded when our own draw (the
    // request span id, random) falls in the ratio, else only within the client sampling budget
    const asked = this.s.parent_based ? parent.sampled : this.inRatio(parent.traceId);
    sampled = asked && (this.inRatio(spanId) || this.takeClientSample());
    if (sampled) this.counts.sampled++; else this.counts.notSampled++;
    // tracestate belongs to the traceparent it came with: without a valid one it is dropped
    return new RequestTrace(parent.traceId, spanId, parent.spanId, sampled, validTracestate(ts));
  }

  /** True when the random hex id `id` falls in sample_ratio (its first 13 digits, 52 bits). */
  private inRatio(id: string): boolean {
    return parseInt(id.slice(0, 13), 16) < this.threshold;
  }

  /** One client-directed sample from the budget (refilled at client_sampled_per_second); false (counted) when spent. */
  private takeClientSample(): boolean {
    const rate = this.s.client_sampled_per_second;
    const now = performance.now();
    this.clientTokens = Math.min(Math.max(rate, 1), this.clientTokens + ((now - this.clientTokensAt) * rate) / 1000);
    this.clientTokensAt = now;
    if (this.clientTokens >= 1) { this.clientTokens -= 1; return true; }
    this.counts.clientLimited++;
    return false;
  }

  /** End `t` with its request span (and upstream span); sampled spans go to the exporter. */
  end(t: RequestTrace, e: RequestEnd): void {
    if (!t.sampled) return;
    const spans: SpanRecord[] = t.spans;
    const known = KNOWN_METHODS.has(e.method);
    const method = known ? e.method : '_OTHER';
    const named = known ? e.method : 'HTTP';
    const attrs: Attrs = [
      ['http.request.method', method], ['http.route', e.route], ['url.path', pathWithoutTokens(e.path)], ['http.response.status_code', e.status],
      ['client.address', e.client], ['portcullis.outcome', e.outcome],
    ];
    if (e.peer !== undefined) attrs.push(['network.peer.address', e.peer]);
    if (!known) attrs.push(['http.request.method_original', e.method.slice(0, METHOD_ORIGINAL_MAX)]);
    if (e.reason !== null) attrs.push(['portcullis.reason', e.reason]);
    if (e.deny !== null) attrs.push(['portcullis.deny_reason', e.deny]);
    if (e.fingerprint !== null) attrs.push(['portcullis.token.fingerprint', e.fingerprint]);
    const failed = e.status >= 500 || e.status === 0 || e.outcome === 'truncated';
    if (e.upstream !== null && t.upstreamSpanId !== null) {
      const u = e.upstream;
      const uattrs: Attrs = [['http.request.method', method], ['portcullis.upstream', u.name], ['server.address', u.target]];
      if (!known) uattrs.push(['http.request.method_original', e.method.slice(0, METHOD_ORIGINAL_MAX)]);
      if (u.headMs >= 0) uattrs.push(['http.response.status_code', e.status], ['portcullis.upstream.head_ms', Math.round(u.headMs * 1000) / 1000]);
      spans.push({
        traceId: t.traceId, spanId: t.upstreamSpanId, parentSpanId: t.spanId, traceState: t.traceState, name: `upstream ${named}`, kind: SPAN_KIND.client,
        start: u.start, end: e.end, attrs: uattrs, error: u.headMs < 0 ? (e.reason ?? 'no response') : null,
      });
    }
    spans.push({
      traceId: t.traceId, spanId: t.spanId, parentSpanId: t.parentSpanId, traceState: t.traceState, name: `${named} ${e.route}`, kind: SPAN_KIND.server,
      start: e.start, end: e.end, attrs, error: failed ? (e.reason ?? `status ${e.status}`) : null,
    });
    this.exporter.enqueue(spans);
  }

  /** Metric source keys (node/metrics/component-families.ts). */
  stats(): Record<string, number> {
    return {
      ...this.exporter.counters(),
      'tracing.traces_sampled': this.counts.sampled,
      'tracing.traces_not_sampled': this.counts.notSampled,
      'tracing.traceparent_invalid': this.counts.badParent,
      'tracing.client_sampling_limited': this.counts.clientLimited,
    };
  }

  /** Export what is queued (bounded by the export timeout). */
  close(): Promise<void> { return this.exporter.close(); }
}
