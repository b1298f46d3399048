// The OTLP/HTTP JSON encoding of finished spans (opentelemetry-proto trace/v1, JSON mapping:
// ids as lower-case hex, 64-bit integers as decimal strings, enums as numbers). Written here
// instead of pulling in the OpenTelemetry SDK: one resource, one scope, plain JSON.
import type { AttrValue, Attrs, SpanRecord } from './span.js';

const ORIGIN = performance.timeOrigin;

/** performance.now() milliseconds → Unix epoch nanoseconds as a decimal string (no float rounding past the µs). */
export function epochNanos(perfMs: number): string {
  const ms = ORIGIN + perfMs;
  let whole = Math.floor(ms);
  let frac = Math.round((ms - whole) * 1e6);
  if (frac >= 1e6) { whole += 1; frac -= 1e6; }
  return `${whole}${String(frac).padStart(6, '0')}`;
}

function anyValue(v: AttrValue): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

const attributes = (a: Attrs): Array<{ key: string; value: Record<string, unknown> }> => a.map(([key, v]) => ({ key, value: anyValue(v) }));

/** The body of one export request (ExportTraceServiceRequest) for `spans`. */
export function encodeSpans(spans: readonly SpanRecord[], resource: Attrs, scope: { name: string; version: string }): string {
  return JSON.stringify({
    resourceSpans: [{
      resource: { attributes: attributes(resource) },
      scopeSpans: [{
        scope,
        spans: spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId !== null ? { parentSpanId: s.parentSpanId } : {}),
          ...(s.traceState !== null ? { traceState: s.traceState } : {}),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: epochNanos(s.start),
          endTimeUnixNano: epochNanos(s.end),
          attributes: attributes(s.attrs),
          status: s.error === null ? { code: 0 } : { code: 2, message: s.error },
        })),
      }],
    }],
  });
}
