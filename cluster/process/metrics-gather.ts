// /metrics of `serve --workers N`: the primary asks each ready worker for its registry (prom-client's
// cluster message protocol, answered by the AggregatorRegistry listener every worker installs) and
// aggregates whatever arrives in time, so a worker that dies, hangs or is still booting costs its own
// series, never the whole scrape (prom-client's clusterMetrics rejects the scrape — a 500 — then).
// Counters and histograms stay monotonic: a worker's last answer stands in for it while it is
// silent, and is carried into every later scrape once it exited (its replacement starts at 0).
import type { Worker } from 'node:cluster';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { aggregatorRegistry } from '../../node/metrics/index.js';

/** prom-client's message types (lib/cluster.js); the worker side is prom-client's own listener. */
const REQUEST = 'prom-client:getMetricsReq';
const RESPONSE = 'prom-client:getMetricsRes';

/** How long one scrape waits for the workers' answers (ms): a healthy worker answers in milliseconds. */
export const GATHER_TIMEOUT_MS = 2_000;

type WorkerMetric = MetricObjectWithValues<MetricValue<string>>;
type WorkerMetrics = WorkerMetric[];

/** Families whose samples only grow; a sum over workers that drops reads as a reset to Prometheus. */
const MONOTONIC: ReadonlySet<string> = new Set(['counter', 'histogram']);

/** The counters and histograms of one worker's answer (one array per registry), flattened. */
function monotonic(registries: readonly unknown[]): WorkerMetrics {
  const out: WorkerMetrics = [];
  for (const reg of registries) if (Array.isArray(reg)) for (const m of reg as WorkerMetrics) if (MONOTONIC.has(String(m?.type))) out.push(m);
  return out;
}

/** One scrape's outcome: the aggregated exposition text and how many workers it covers. */
export interface Gathered {
  readonly text: string;
  /** Workers asked (the ready ones). */
  readonly asked: number;
  /** Workers whose answer is in `text`. */
  readonly answered: number;
}

interface Pending {
  readonly waiting: Set<number>;
  readonly answers: WorkerMetrics[];
  answered: number;
  readonly finish: () => void;
}

/** `a` and `b` (one family) with the values of each series (sample name and label set) added. */
function sumSeries(a: WorkerMetric, b: WorkerMetric): WorkerMetric {
  const key = (v: MetricValue<string>): string => {
    const l = (v.labels ?? {}) as Record<string, unknown>;
    return `${(v as { metricName?: string }).metricName ?? ''}\u0000${Object.keys(l).sort().map((k) => `${k}=${String(l[k])}`).join('\u0000')}`;
  };
  const out = new Map<string, MetricValue<string>>();
  for (const v of [...a.values, ...b.values]) {
    const k = key(v);
    const had = out.get(k);
    out.set(k, had === undefined ? { ...v } : { ...had, value: had.value + v.value });
  }
  return { ...a, values: [...out.values()] };
}

/**
 * Scrapes over workers. One instance per primary; `listen(worker)` for every forked worker.
 * gather() never rejects: a worker that answers with an error, exits or is silent past
 * `timeoutMs` is left out (and not counted in `answered`); its counters and histograms as of
 * its last answer still count (what it counted after that answer is lost when it exits).
 */
export class MetricsGather {
  #next = 1;
  readonly #pending = new Map<number, Pending>();
  /** Per live worker (id): the counters and histograms of its last answer. */
  readonly #last = new Map<number, WorkerMetrics>();
  /** Per family name: the counters and histograms of every worker that exited, summed (bounded by the label sets). */
  readonly #retired = new Map<string, WorkerMetric>();

  constructor(private readonly timeoutMs = GATHER_TIMEOUT_MS) {}

  /** Route a worker's metrics answers and its exit to the scrapes waiting for it. */
  listen(worker: Worker): void {
    worker.on('message', (m: unknown) => {
      if (m === null || typeof m !== 'object' || (m as { type?: unknown }).type !== RESPONSE) return;
      const { requestId, metrics, error } = m as { requestId?: unknown; metrics?: unknown; error?: unknown };
      const p = typeof requestId === 'number' ? this.#pending.get(requestId) : undefined;
      if (error === undefined && Array.isArray(metrics)) this.#last.set(worker.id, monotonic(metrics)); // a late answer is still the newest
      if (p === undefined || !p.waiting.delete(worker.id)) return; // late, or not asked
      if (error === undefined && Array.isArray(metrics)) {
        p.answered++;
        for (const reg of metrics) if (Array.isArray(reg)) p.answers.push(reg as WorkerMetrics);
      }
      if (p.waiting.size === 0) p.finish();
    });
    worker.on('exit', () => {
      // its replacement counts from 0: keep what this one had counted in every later sum
      const last = this.#last.get(worker.id);
      this.#last.delete(worker.id);
      for (const m of last ?? []) {
        const had = this.#retired.get(m.name);
        this.#retired.set(m.name, had === undefined ? m : sumSeries(had, m));
      }
      for (const p of this.#pending.values()) if (p.waiting.delete(worker.id) && p.waiting.size === 0) p.finish();
    });
  }

  /** Aggregate the registries of `workers` (those connected are asked). */
  gather(workers: readonly Worker[]): Promise<Gathered> {
    const id = this.#next++;
    return new Promise((resolve) => {
      const waiting = new Set<number>();
      const answers: WorkerMetrics[] = [];
      let timer: NodeJS.Timeout | null = null;
      const finish = (): void => {
        if (!this.#pending.delete(id)) return;
        if (timer !== null) clearTimeout(timer);
        // a worker answers with one array per registry; aggregate() groups them by metric name. The
        // answers come first (a family's help and aggregator are its first copy's), then the silent
        // workers' last counters and the exited ones'
        const parts = [...answers];
        for (const w of waiting) { const l = this.#last.get(w); if (l !== undefined && l.length > 0) parts.push(l); }
        if (this.#retired.size > 0) parts.push([...this.#retired.values()]);
        let text: Promise<string>;
        try { text = parts.length === 0 ? Promise.resolve('') : aggregatorRegistry().aggregate(parts).metrics(); } catch (err) { text = Promise.reject(err); } // finish runs in IPC/exit handlers: never throw there
        void text.then((t) => resolve({ text: t, asked, answered: pending.answered }), () => resolve({ text: '', asked, answered: 0 }));
      };
      for (const w of workers) {
        if (!w.isConnected()) continue;
        try { w.send({ type: REQUEST, requestId: id }); waiting.add(w.id); } catch { /* exiting: left out */ }
      }
      const asked = waiting.size;
      const pending: Pending = { waiting, answers, answered: 0, finish };
      this.#pending.set(id, pending);
      if (waiting.size === 0) { finish(); return; }
      timer = setTimeout(finish, this.timeoutMs);
      timer.unref();
    });
  }
}

/** The primary's own series, appended to the workers' aggregated /metrics. */
export function supervisorSeries(v: { restarts: number; ready: number; unrestorable: number; unrestorableAfter: number; reporting: number }): string {
  return [
    '# HELP portcullis_worker_restarts_total Worker processes the primary restarted after they exited (crashed, killed or died while booting).',
    '# TYPE portcullis_worker_restarts_total counter',
    `portcullis_worker_restarts_total ${v.restarts}`,
    '# HELP portcullis_workers_ready Worker processes that reported ready.',
    '# TYPE portcullis_workers_ready gauge',
    `portcullis_workers_ready ${v.ready}`,
    `# HELP portcullis_workers_unrestorable Worker slots with ${v.unrestorableAfter} exits in a row and no ready worker (/healthz answers 503 while above 0).`,
    '# TYPE portcullis_workers_unrestorable gauge',
    `portcullis_workers_unrestorable ${v.unrestorable}`,
    `# HELP portcullis_metrics_workers_reporting Workers whose series are in this scrape (one that died or did not answer within ${GATHER_TIMEOUT_MS / 1000} s is left out).`,
    '# TYPE portcullis_metrics_workers_reporting gauge',
    `portcullis_metrics_workers_reporting ${v.reporting}`,
    '',
  ].join('\n');
}

/**
 * The primary's own member counters as component values: snapshot writes (it is the file's one writer; its workers only load it),
 * worker mailbox overflows, and what it publishes — it serves the admin API, so `POST /revocations` is its publish and its outbox
 * (before, these read 0 on a `--workers` instance whatever it published or held unacknowledged).
 */
export function primaryMemberValues(stats: Readonly<Record<string, number>> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ['revocation_snapshot_writes_total', 'revocation_snapshot_write_failures_total', 'revocations_worker_overflows_total',
    'revocations_published_total', 'revocations_persisted_total', 'revocations_publish_failed_total', 'revocations_restored_total', 'revocations_unpersisted']) {
    if (stats?.[k] !== undefined) out[`cluster.${k}`] = stats[k];
  }
  return out;
}
