// The paired open-loop generator of scenario tail-pair: one pacer turn sends what is due on two
// streams at once — `rate` requests/s to the target under test and `probeRate` requests/s straight to
// the upstream, each over its own undici pool — and keeps every request's due time and latency, plus
// the pacer's own lateness per window (gap between turns, send lag), so the loader can be ruled out.
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Pool } from 'undici';
import type { LoaderWindow, StreamSamples } from './tail-pair-stats.js';

export interface PairLoadFlags {
  /** Requests/s to the target (2000: issue 13's moderate rate). */
  rate: number;
  /** Requests/s of the direct probe stream (500). */
  probeRate: number;
  /** Pool connection caps: target, probe (50 each: jwt-warm's fixed-rate engine). */
  connections: number;
  probeConnections: number;
  durationS: number;
  warmupS: number;
  /** Window length for the loader's lateness record, ms (the statistics' window). */
  windowMs: number;
  path: string;
  headers: Record<string, string>;
  /** Processes whose runqueue wait is read at each window's first pacer turn (/proc/<pid>/task/<tid>/schedstat); none: not read. */
  schedPids?: readonly number[];
  /** Every thread of those processes (HAProxy: all its threads serve requests); default false: each process's main thread (Node, nginx). */
  schedAllThreads?: boolean;
  /** Pacer gaps longer than this (ms) are listed in the result with when they ended, to line up with the loader's `node --trace-gc`; default: none listed. */
  gapLogMs?: number;
  /** Collect the loader's heap fully between warm-up and measurement (default true): a mark-compact then rarely falls inside the measured seconds. */
  gcBeforeMeasure?: boolean;
}

/** One measured run: both streams' samples (failures and non-2xx are counted, not sampled), the loader per window, its CPU. */
export interface PairLoadResult {
  proxy: StreamSamples & { errors: number; non2xx: number };
  direct: StreamSamples & { errors: number; non2xx: number };
  loader: LoaderWindow[];
  elapsedS: number;
  /** The measured run's start (due 0) in epoch ms (performance.timeOrigin + now), to line other processes' events up with the windows. */
  startEpochMs: number;
  /** The loader's own CPU over the window, cores. */
  loaderCores: number;
  /** Per window: runqueue wait (runnable, no CPU) summed over the threads read (`schedPids`, `schedAllThreads`), ms; empty when not read. */
  targetWaitMs: Array<{ index: number; waitMs: number }>;
  /** Pacer gaps over `gapLogMs`: length and end, ms since this process's performance.timeOrigin (the clock `node --trace-gc` prints). */
  longGaps: Array<{ gapMs: number; endMs: number }>;
  /** The measured run's start and end, ms on the loader's performance.now clock (the one `node --trace-gc` prints). */
  spanMs: [number, number];
  /** The process that ran the pacer (whose clock `spanMs` and `longGaps` are on). */
  loaderPid: number;
}

/** The schedstat files of the main thread (or every thread) of each of `pids`, listed once before the run. */
function schedFiles(pids: readonly number[], allThreads: boolean): string[] {
  if (!allThreads) return pids.map((pid) => `/proc/${pid}/task/${pid}/schedstat`);
  return pids.flatMap((pid) => { try { return readdirSync(`/proc/${pid}/task`).map((t) => `/proc/${pid}/task/${t}/schedstat`); } catch { return []; } });
}

/** Summed runqueue wait of `files`, ns (a thread that ended counts 0). */
function waitNs(files: readonly string[]): number {
  let sum = 0;
  for (const f of files) { try { sum += Number(readFileSync(f, 'utf8').split(' ')[1]); } catch { /* thread gone */ } }
  return sum;
}

interface Stream { pool: Pool; interval: number; n: number; sent: number; due: number[]; lat: number[]; errors: number; non2xx: number }

function runOnce(pools: [Pool, Pool], f: PairLoadFlags, durationS: number): Promise<PairLoadResult> {
  const mk = (pool: Pool, rate: number): Stream => ({ pool, interval: 1000 / rate, n: Math.max(1, Math.round(rate * durationS)), sent: 0, due: [], lat: [], errors: 0, non2xx: 0 });
  const streams = [mk(pools[0], f.rate), mk(pools[1], f.probeRate)] as const;
  const total = streams[0].n + streams[1].n;
  const gaps = new Map<number, LoaderWindow>();
  const win = (t: number): LoaderWindow => {
    const index = Math.floor(t / f.windowMs);
    let w = gaps.get(index);
    if (w === undefined) { w = { index, maxGapMs: 0, maxLagMs: 0 }; gaps.set(index, w); }
    return w;
  };
  let settled = 0;
  const c0 = process.cpuUsage();
  const start = performance.now();
  let lastTurn = 0;
  const files = schedFiles(f.schedPids ?? [], f.schedAllThreads === true);
  const waits: Array<{ index: number; ns: number }> = [];
  let curWindow = -1;
  const longGaps: PairLoadResult['longGaps'] = [];
  const gapLog = f.gapLogMs ?? Infinity;
  return new Promise((resolve) => {
    const settle = (): void => {
      if (++settled !== total) return;
      const c1 = process.cpuUsage(c0);
      const elapsedS = (performance.now() - start) / 1000;
      const out = (s: Stream): PairLoadResult['proxy'] => ({ dueMs: s.due, latMs: s.lat, errors: s.errors, non2xx: s.non2xx });
      const targetWaitMs = waits.slice(1).map((w, i) => ({ index: waits[i]!.index, waitMs: (w.ns - waits[i]!.ns) / 1e6 }));
      resolve({ proxy: out(streams[0]), direct: out(streams[1]), loader: [...gaps.values()].sort((a, b) => a.index - b.index), elapsedS, startEpochMs: performance.timeOrigin + start, loaderCores: (c1.user + c1.system) / 1e6 / elapsedS, targetWaitMs, longGaps, spanMs: [start, performance.now()], loaderPid: process.pid });
    };
    const fire = (s: Stream, dueRel: number, now: number): void => {
      const w = win(dueRel);
      w.maxLagMs = Math.max(w.maxLagMs, now - start - dueRel);
      s.pool.request({ path: f.path, method: 'GET', headers: f.headers }, (err, data) => {
        if (err !== null) { s.errors++; settle(); return; }
        data.body.dump().then(() => {
          if (data.statusCode >= 200 && data.statusCode < 300) { s.due.push(dueRel); s.lat.push(performance.now() - start - dueRel); } else s.non2xx++;
          settle();
        }, () => { s.errors++; settle(); });
      });
    };
    const tick = (): void => {
      const now = performance.now();
      const rel = now - start;
      const w = win(rel);
      w.maxGapMs = Math.max(w.maxGapMs, rel - lastTurn);
      if (rel - lastTurn > gapLog) longGaps.push({ gapMs: rel - lastTurn, endMs: now });
      lastTurn = rel;
      // the first turn of each window reads the target's runqueue wait: the difference to the next is that window's
      if (files.length > 0 && w.index !== curWindow) { curWindow = w.index; waits.push({ index: w.index, ns: waitNs(files) }); }
      let more = false;
      for (const s of streams) {
        const due = Math.min(s.n, Math.floor(rel / s.interval) + 1);
        while (s.sent < due) fire(s, s.sent++ * s.interval, now);
        if (s.sent < s.n) more = true;
      }
      if (more) setImmediate(tick);
      else if (files.length > 0) waits.push({ index: curWindow + 1, ns: waitNs(files) });
    };
    tick();
  });
}

/**
 * A full collection of this process's heap, now. The pacer spins, so V8's incremental marking gets no idle time and
 * a mark-compact finishes in one main-thread step of 16–24 ms on this bench's heap: a pacer gap that holds both streams.
 */
function collectNow(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Warm both pools with the same paired load, call `beforeMeasure` (counters start there), then measure; the pools are closed afterwards. */
export async function runPairLoad(targetUrl: string, directUrl: string, f: PairLoadFlags, beforeMeasure?: () => Promise<void> | void): Promise<PairLoadResult> {
  const pool = (url: string, c: number): Pool => new Pool(new URL(url).origin, { connections: c, pipelining: 1, keepAliveTimeout: 60_000 });
  const pools: [Pool, Pool] = [pool(targetUrl, f.connections), pool(directUrl, f.probeConnections)];
  try {
    if (f.warmupS > 0) await runOnce(pools, f, f.warmupS);
    if (f.gcBeforeMeasure !== false) collectNow();
    if (beforeMeasure !== undefined) await beforeMeasure();
    return await runOnce(pools, f, f.durationS);
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => {})));
  }
}
