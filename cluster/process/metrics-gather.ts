// /metrics of `serve --workers N`: the primary asks each ready worker for its registry (prom-client's
// cluster message protocol, answered by the AggregatorRegistry listener every worker installs) and
// aggregates whatever arrives in time, so a worker that dies, hangs or is still booting costs its own
// series, never the whole scrape (prom-client's clusterMetrics rejects the scrape — a 500 — then).
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** prom-client's message types (lib/cluster.js); the worker side is prom-client's own listener. */
const REQUEST = 'prom-client:getMetricsReq';
const RESPONSE = 'prom-client:getMetricsRes';

/** How long one scrape waits for the workers' answers (ms): a healthy worker answers in milliseconds. */
export const GATHER_TIMEOUT_MS = 2_000;

type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

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

/**
 * Scrapes over workers. One instance per primary; `listen(worker)` for every forked worker.
 * gather() never rejects: a worker that answers with an error, exits or is silent past
 * `timeoutMs` is left out (and not counted in `answered`).
 */
export class MetricsGather {
  #next = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(private readonly timeoutMs = GATHER_TIMEOUT_MS) {}

  /** Route a worker's metrics answers and its exit to the scrapes waiting for it. */
  listen(worker: Worker): void {
    worker.on('message', (m: unknown) => {
      if (m === null || typeof m !== 'object' || (m as { type?: unknown }).type !== RESPONSE) return;
      const { requestId, metrics, error } = m as { requestId?: unknown; metrics?: unknown; error?: unknown };
      const p = typeof requestId === 'number' ? this.#pending.get(requestId) : undefined;
      if (p === undefined || !p.waiting.delete(worker.id)) return; // late, or not asked
      if (error === undefined && Array.isArray(metrics)) {
        p.answered++;
        for (const reg of metrics) if (Array.isArray(reg)) p.answers.push(reg as WorkerMetrics);
      }
      if (p.waiting.size === 0) p.finish();
    });
    worker.on('exit', () => {
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
        // a worker answers with one array per registry; aggregate() groups them by metric name
        let text: Promise<string>;
        try { text = answers.length === 0 ? Promise.resolve('') : AggregatorRegistry.aggregate(answers).metrics(); } catch (err) { text = Promise.reject(err); } // finish runs in IPC/exit handlers: never throw there
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
