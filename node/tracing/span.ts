// What one finished span is (plain data until the exporter encodes it) and the per-request
// trace the pipeline carries in ctx.trace: the trace id, the request's span id, the sampling
// decision and, when sampled, the stage spans collected so far.
import { formatTraceparent, newSpanId } from './trace-context.js';

/** OTLP SpanKind values. */
export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
export type SpanKind = (typeof SPAN_KIND)[keyof typeof SPAN_KIND];

export type AttrValue = string | number | boolean;
/** Span attributes as [key, value] pairs (no object per attribute). */
export type Attrs = Array<readonly [string, AttrValue]>;

/** One finished span; times are performance.now() milliseconds (the encoder converts to epoch ns). */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly traceState: string | null;
  readonly name: string;
  readonly kind: SpanKind;
  readonly start: number;
  readonly end: number;
  readonly attrs: Attrs;
  /** Status ERROR with this message; null = status unset. */
  readonly error: string | null;
}

/**
 * One request's trace. Every request gets one while tracing is on (its trace id goes to the
 * access log and, with a new span id, to the upstream); spans are only kept when `sampled`.
 */
export class RequestTrace {
  /** Span id of the upstream call, made when the request is forwarded; null when it was not. */
  upstreamSpanId: string | null = null;
  /** Stage spans so far (empty unless sampled). */
  readonly spans: SpanRecord[] = [];

  constructor(
    readonly traceId: string,
    /** The request (server) span's id. */
    readonly spanId: string,
    /** The client's span id from a valid traceparent; null when this trace started here. */
    readonly parentSpanId: string | null,
    readonly sampled: boolean,
    /** The client's tracestate when valid, forwarded unchanged; null: none. */
    readonly traceState: string | null,
  ) {}

  /** Record a stage span (a child of `parent`, default the request span); returns its id, null when not sampled. */
  stage(name: string, kind: SpanKind, start: number, end: number, attrs: Attrs, error: string | null = null, parent: string = this.spanId): string | null {
    if (!this.sampled) return null;
    const spanId = newSpanId();
    this.spans.push({ traceId: this.traceId, spanId, parentSpanId: parent, traceState: this.traceState, name, kind, start, end, attrs, error });
    return spanId;
  }

  /** The traceparent the upstream gets: this trace, a new span id (the upstream call's), our decision. */
  upstreamTraceparent(): string {
    this.upstreamSpanId ??= newSpanId();
    return formatTraceparent(this.traceId, this.upstreamSpanId, this.sampled);
  }
}
