// The observability sections of portcullis.yaml: `log` (with the audit trail), `tracing` (local to
// each instance, read at start: OTLP/HTTP export of request spans and W3C trace-context
// propagation, off by default) and a route's `access_log` sampling.
import { z } from 'zod';

/** Name of an environment variable holding a secret (as schema.ts's). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

const otlpUrl = z.string().url().refine((u) => {
  const url = new URL(u);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
}, 'an http(s) URL without user or password, e.g. http://127.0.0.1:4318/v1/traces');

export const tracingSchema = z.strictObject({
  /** Off: no trace headers touched (traceparent passes through unchanged), no span, no cost per request. */
  enabled: z.boolean().default(false),
  /** OTLP/HTTP traces endpoint (JSON encoding), e.g. an OpenTelemetry Collector's :4318/v1/traces. */
  endpoint: otlpUrl.default('http://127.0.0.1:4318/v1/traces'),
  /** Headers sent with every export (a collector's or vendor's credentials), each value from an environment variable. */
  headers: z.array(z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name').refine((n) => !['content-type', 'content-length', 'host', 'connection', 'transfer-encoding'].includes(n.toLowerCase()), 'a header the exporter sets itself'),
    value_env: envName,
  })).default([]),
  /** `service.name` of the exported resource. */
  service_name: z.string().min(1).default('portcullis'),
  /** Share of new traces recorded, 0..1 (1 = all); decided on the trace id, so every proxy of a trace agrees. */
  sample_ratio: z.number().min(0).max(1).default(1),
  /** A request with a valid traceparent follows the client's sampled flag (OpenTelemetry ParentBased). */
  parent_based: z.boolean().default(true),
  /**
   * Requests per second (per process) recorded because the client's trace context asked (its sampled
   * flag, or with parent_based off its trace id) beyond what sample_ratio records; past it they are
   * propagated unsampled (counted). The client chooses both: without a bound it could have every request exported.
   */
  client_sampled_per_second: z.number().min(0).default(100), // one second of burst
  batch: z.strictObject({
    max_spans: z.number().int().min(1).max(10_000).default(512), // spans per export request
    interval_ms: z.number().int().min(10).default(1_000), // 1 s: longest a span waits for a batch
  }).default({}),
  /** Spans waiting for export at most; a request whose spans do not fit is dropped (counted). */
  max_queue_spans: z.number().int().min(1).default(8_192),
  /** Deadline of one export in total (connect to the answer's last byte), ms; a failed export is dropped (counted). */
  timeout_ms: z.number().int().min(1).default(5_000), // 5 s
}).default({});

/** `log.audit`: the audit trail of admin actions (node/audit). */
export const auditSchema = z.strictObject({
  /** File the audit records are appended to (created 0600); absent: standard output, beside the other log lines. */
  file: z.string().min(1).optional(),
}).default({});

/** A route's `access_log`: sampling of its allowed requests' access-log lines. */
export const accessLogSchema = z.strictObject({
  /** Share of allowed, complete 1xx–3xx requests logged, 0..1; denials, 4xx/5xx, incomplete responses and sampled traces are always logged. */
  sample_allowed: z.number().min(0).max(1).default(1),
});

/** `log`: the process log, the per-request access line and the audit trail. */
export const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  format: z.enum(['json', 'pretty']).default('json'),
  access: z.boolean().default(true), // one line per request
  /**
   * Bytes of log lines held in memory while stdout does not take them (a slow or stalled reader),
   * 16 MiB by default; a line that does not fit is dropped and counted
   * (portcullis_log_lines_dropped_total). Read at start.
   */
  buffer_bytes: z.number().int().min(65_536).default(16 * 1024 * 1024), // 16 MiB
  audit: auditSchema,
}).default({});
