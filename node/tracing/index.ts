// Public surface of node/tracing: W3C trace context, per-request traces, the OTLP/HTTP exporter.
export { Tracer, type TracingSettings, type RequestEnd } from './tracer.js';
export { RequestTrace, SPAN_KIND, type SpanRecord, type Attrs } from './span.js';
export { parseTraceparent, validTracestate, formatTraceparent } from './trace-context.js';
export { encodeSpans, epochNanos } from './otlp-json.js';
export { inlineChecks } from './inline-checks.js';
