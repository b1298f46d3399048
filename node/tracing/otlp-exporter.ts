// Batches finished spans and sends them to an OTLP/HTTP collector (JSON encoding) off the
// request path: the request path only appends to a bounded queue (overflow is dropped and
// counted, never waited for); one export is in flight at a time; a failed export is dropped
// and counted (a collector outage must cost memory bounded by the queue, nothing more).
import type { Agent } from 'undici';
import { undici } from '../lazy-packages.js';
import type { Logger } from '../log.js';
import { encodeSpans } from './otlp-json.js';
import type { Attrs, SpanRecord } from './span.js';

/** Longest a shutdown waits for the last spans to be exported, ms. */
const CLOSE_WAIT_MS = 2_000;

export interface ExporterSettings {
  /** OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. */
  readonly endpoint: string;
  /** Extra request headers (credentials: never logged). */
  readonly headers: Readonly<Record<string, string>>;
  /** Spans per export request. */
  readonly batchSpans: number;
  /** Export at least this often while spans wait, ms. */
  readonly intervalMs: number;
  /** Spans waiting at most; more are dropped (counted). */
  readonly maxQueueSpans: number;
  /** Connect + answer deadline of one export, ms. */
  readonly timeoutMs: number;
  readonly resource: Attrs;
  readonly scope: { name: string; version: string };
}

/** The exporter's counters, as metric source keys (node/metrics/component-families.ts). */
export interface ExporterCounters {
  'tracing.spans_exported': number;
  'tracing.spans_dropped_queue_full': number;
  'tracing.spans_dropped_export_failed': number;
  'tracing.exports_ok': number;
  'tracing.exports_failed': number;
  'tracing.queue_spans': number;
}

export class OtlpExporter {
  private queue: SpanRecord[] = [];
  private inflight: Promise<void> | null = null;
  private scheduled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly agent: Agent;
  private readonly counts = { exported: 0, droppedFull: 0, droppedFailed: 0, ok: 0, failed: 0 };
  /** Failures in a row; the first of a run is logged at warn, later ones at debug (no log flood). */
  private failuresInRow = 0;
  /** The endpoint as logged: without its query (a vendor's key may sit there) or fragment. */
  private readonly loggedEndpoint: string;

  constructor(private readonly s: ExporterSettings, private readonly logger: Logger) {
    this.loggedEndpoint = s.endpoint.split(/[?#]/)[0]!;
    this.agent = new (undici().Agent)({ connections: 2, connect: { timeout: s.timeoutMs }, headersTimeout: s.timeoutMs, bodyTimeout: s.timeoutMs });
    this.timer = setInterval(() => { if (this.queue.length > 0) this.kick(); }, s.intervalMs);
    this.timer.unref();
  }

  /** Queue one request's spans (all or none); never blocks, never throws. */
  enqueue(spans: readonly SpanRecord[]): void {
    if (this.queue.length + spans.length > this.s.maxQueueSpans) { this.counts.droppedFull += spans.length; return; }
    for (const sp of spans) this.queue.push(sp);
    if (this.queue.length >= this.s.batchSpans && !this.scheduled && this.inflight === null) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; this.kick(); });
    }
  }

  counters(): ExporterCounters {
    return {
      'tracing.spans_exported': this.counts.exported,
      'tracing.spans_dropped_queue_full': this.counts.droppedFull,
      'tracing.spans_dropped_export_failed': this.counts.droppedFailed,
      'tracing.exports_ok': this.counts.ok,
      'tracing.exports_failed': this.counts.failed,
      'tracing.queue_spans': this.queue.length,
    };
  }

  /** Export what is queued (at shutdown), for at most CLOSE_WAIT_MS or the export timeout if shorter; then stop. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + Math.min(this.s.timeoutMs, CLOSE_WAIT_MS);
    while ((this.queue.length > 0 || this.inflight !== null) && Date.now() < deadline) {
      this.kick();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.inflight, new Promise<void>((r) => { timer = setTimeout(r, Math.max(0, deadline - Date.now())); })]);
      clearTimeout(timer);
    }
    // a collector that does not answer must not hold the exit
    await this.agent.destroy().catch(() => undefined);
  }

  /** Start an export of the next batch unless one is in flight. */
  private kick(): void {
    if (this.inflight !== null || this.queue.length === 0) return;
    const batch = this.queue.length <= this.s.batchSpans ? this.queue : this.queue.slice(0, this.s.batchSpans);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.inflight = this.send(batch).finally(() => {
      this.inflight = null;
      if (this.queue.length >= this.s.batchSpans) this.kick();
    });
  }

  private async send(batch: SpanRecord[]): Promise<void> {
    try {
      const body = encodeSpans(batch, this.s.resource, this.s.scope);
      // timeout_ms bounds the whole export: the Agent's timeouts are idle timers, and a collector dripping its
      // answer would hold the one export in flight (and so every later one) forever; the answer is not kept
      const signal = AbortSignal.timeout(this.s.timeoutMs);
      const r = await undici().request(this.s.endpoint, { method: 'POST', body, headers: { ...this.s.headers, 'content-type': 'application/json' }, dispatcher: this.agent, signal });
      await r.body.dump({ limit: 128 * 1024, signal });
      if (r.statusCode < 200 || r.statusCode >= 300) throw new Error(`collector answered ${r.statusCode}`);
      this.counts.ok++;
      this.counts.exported += batch.length;
      this.failuresInRow = 0;
    } catch (err) {
      this.counts.failed++;
      this.counts.droppedFailed += batch.length;
      const timedOut = (err as { name?: unknown } | null)?.name === 'TimeoutError';
      const fields = { err: timedOut ? `no complete answer within ${this.s.timeoutMs} ms` : err instanceof Error ? err.message : String(err), spans: batch.length, endpoint: this.loggedEndpoint };
      if (this.failuresInRow++ === 0) this.logger.warn(fields, 'trace export failed: spans dropped');
      else this.logger.debug(fields, 'trace export failed: spans dropped');
    }
  }
}
