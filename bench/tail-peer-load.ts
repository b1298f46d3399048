// The open-loop generator of scenario tail-peer: requests due at start + i/rate over one undici
// pool, latency from the scheduled instant, the whole distribution kept (p50…max, share over
// 1 ms), and a choice of pacer — `spin` (setImmediate, load.ts's engine: a busy loader core) or
// `timer` (a 1 ms setInterval sending what is due: the loader core mostly idle).
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { Pool } from 'undici';

/** How the loader waits between sends. */
export type Pacer = 'spin' | 'timer';

export interface TailLoadFlags {
  /** Offered requests per second (2000: the moderate rate). */
  rate: number;
  /** Cap on the pool's connections (50, as load.ts's fixed-rate engine). */
  connections: number;
  durationS: number;
  warmupS: number;
  path: string;
  headers: Record<string, string>;
  pacer: Pacer;
}

/** One run's distribution, ms from the scheduled send (`svc*`: from the actual send). */
export interface TailLoadResult {
  requests: number;
  errors: number;
  non2xx: number;
  rps: number;
  p50: number; p90: number; p99: number; p999: number; max: number;
  svcP50: number; svcP99: number;
  /** Share of responses slower than 1 ms / 2 ms (from the scheduled send). */
  over1ms: number;
  over2ms: number;
  /** The loader's own CPU over the window, cores. */
  loaderCores: number;
}

const hist = (): RecordableHistogram => createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
const rec = (h: RecordableHistogram, ms: number): void => h.record(Math.max(1, Math.round(ms * 1000)));
const pct = (h: RecordableHistogram, p: number): number => (h.count === 0 ? Number.NaN : h.percentile(p) / 1000);

function once(pool: Pool, f: TailLoadFlags, durationS: number): Promise<{ total: RecordableHistogram; svc: RecordableHistogram; ok: number; errors: number; non2xx: number; over1: number; over2: number; elapsedS: number }> {
  const n = Math.max(1, Math.round(f.rate * durationS));
  const interval = 1000 / f.rate;
  const out = { total: hist(), svc: hist(), ok: 0, errors: 0, non2xx: 0, over1: 0, over2: 0, elapsedS: 0 };
  let sent = 0;
  let settled = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    const settle = (): void => {
      if (++settled !== n) return;
      out.elapsedS = (performance.now() - start) / 1000;
      resolve(out);
    };
    const fire = (due: number): void => {
      const sentAt = performance.now();
      pool.request({ path: f.path, method: 'GET', headers: f.headers }, (err, data) => {
        if (err !== null) { out.errors++; settle(); return; }
        data.body.dump().then(() => {
          const end = performance.now();
          if (data.statusCode >= 200 && data.statusCode < 300) {
            out.ok++;
            const ms = end - due;
            rec(out.total, ms);
            rec(out.svc, end - sentAt);
            if (ms > 1) out.over1++;
            if (ms > 2) out.over2++;
          } else out.non2xx++;
          settle();
        }, () => { out.errors++; settle(); });
      });
    };
    const tick = (): void => {
      const due = Math.min(n, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < due) fire(start + sent++ * interval);
      if (sent >= n) { if (timer !== null) clearInterval(timer); return; }
      if (f.pacer === 'spin') setImmediate(tick);
    };
    if (f.pacer === 'timer') timer = setInterval(tick, 1);
    tick();
  });
}

/** Warm up (same pool, same rate), then measure; the pool is closed afterwards. */
export async function runTailLoad(url: string, f: TailLoadFlags): Promise<TailLoadResult> {
  const pool = new Pool(new URL(url).origin, { connections: f.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  try {
    if (f.warmupS > 0) await once(pool, f, f.warmupS);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await once(pool, f, f.durationS);
    const c1 = process.cpuUsage(c0);
    const wall = (performance.now() - t0) / 1000;
    const ok = Math.max(1, r.ok);
    return {
      requests: r.ok, errors: r.errors, non2xx: r.non2xx, rps: r.ok / r.elapsedS,
      p50: pct(r.total, 50), p90: pct(r.total, 90), p99: pct(r.total, 99), p999: pct(r.total, 99.9), max: r.total.max / 1000,
      svcP50: pct(r.svc, 50), svcP99: pct(r.svc, 99),
      over1ms: r.over1 / ok, over2ms: r.over2 / ok,
      loaderCores: (c1.user + c1.system) / 1e6 / wall,
    };
  } finally {
    await pool.close().catch(() => {});
  }
}
