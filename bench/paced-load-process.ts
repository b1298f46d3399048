// Background load in a process of its own, so the scenario's own timing (the revocation
// prober) never shares an event loop with it: `node dist/bench/paced-load-process.js '<json>'`
// sends `rate` requests per second to each URL, evenly paced on a 1 ms timer (cheap: it does
// not spin like load.ts's paced engine, and it does not burst like autocannon's overallRate),
// prints {"ready":true}, and on SIGTERM prints one JSON line with per-URL counts and latency.
import { createHistogram, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';

/** argv[2] as JSON. */
export interface PacedLoadSpec {
  urls: string[];
  /** Requests per second per URL. */
  rate: number;
  path: string;
  headers: Record<string, string>;
  /** Connections per URL (upper bound on concurrency). */
  connections: number;
}

/** The final line on SIGTERM: one entry per URL, in the order given. */
export interface PacedLoadReport {
  elapsedS: number;
  targets: Array<{ url: string; sent: number; ok: number; non2xx: number; errors: number; p50Ms: number; p99Ms: number; maxMs: number }>;
}

/** Pure: the last `{"elapsedS":…}` line of the process output, or null. */
export function parsePacedLoadReport(output: string): PacedLoadReport | null {
  const line = output.split('\n').reverse().find((l) => l.startsWith('{"elapsedS"'));
  return line === undefined ? null : (JSON.parse(line) as PacedLoadReport);
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as PacedLoadSpec;
  const start = performance.now();
  const targets = spec.urls.map((url) => ({
    url,
    pool: new Pool(new URL(url).origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000 }),
    sent: 0, ok: 0, non2xx: 0, errors: 0,
    hist: createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 }),
  }));
  const intervalMs = 1000 / spec.rate;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - start) / intervalMs);
    for (const t of targets) {
      while (t.sent < due) {
        t.sent++;
        const sentAt = performance.now();
        t.pool.request({ path: spec.path, method: 'GET', headers: spec.headers }).then(async (res) => {
          await res.body.dump();
          t.hist.record(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
          if (res.statusCode >= 200 && res.statusCode < 300) t.ok++; else t.non2xx++;
        }, () => { t.errors++; });
      }
    }
  }, 1);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    const report: PacedLoadReport = {
      elapsedS: (performance.now() - start) / 1000,
      targets: targets.map((t) => ({
        url: t.url, sent: t.sent, ok: t.ok, non2xx: t.non2xx, errors: t.errors,
        p50Ms: t.hist.count === 0 ? 0 : t.hist.percentile(50) / 1000, p99Ms: t.hist.count === 0 ? 0 : t.hist.percentile(99) / 1000, maxMs: t.hist.count === 0 ? 0 : t.hist.max / 1000,
      })),
    };
    process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
  });
  process.stdout.write('{"ready":true}\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
