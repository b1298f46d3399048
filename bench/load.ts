// Load generation. Closed loop (max throughput): autocannon with fixed, recorded flags.
// Fixed offered load (added latency): an open-loop paced generator by default, because
// autocannon's `overallRate` is a per-connection per-second quota fired back-to-back
// (measured here: 2000 rps arrive as ~5x bursts in the first third of every second) and its
// coordinated-omission correction assumes a 1 ms interval; `engine: 'autocannon'` keeps it available.
// Latencies go into a microsecond histogram (autocannon's own has 1 ms resolution).
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import type autocannon from 'autocannon';
import { Pool } from 'undici';
import { cpuSeconds, watchForeignCpu } from './processes.js';
import { wrkOnce } from './wrk-load.js';
import type { LoadResult } from './stats.js';

/** Closed-loop flags; recorded in every result file. */
export interface LoadFlags {
  connections: number;
  /** Always 1: one request in flight per connection, as browsers and service clients behave. */
  pipelining: 1;
  /** Measured window, seconds. */
  durationS: number;
  /** Unmeasured run before it (same connections), seconds. */
  warmupS: number;
  /** Per-request timeout, seconds. */
  timeoutS: number;
  path: string;
  headers?: Record<string, string>;
  /** The closed-loop loader: autocannon (default) or wrk (bench/wrk-load.ts; fixed headers only). */
  loader?: 'autocannon' | 'wrk';
}

export const DEFAULT_LOAD_FLAGS: LoadFlags = { connections: 50, pipelining: 1, durationS: 5, warmupS: 1, timeoutS: 10, path: '/' };

/**
 * A header whose value changes per request (distinct tokens): the n-th request sent over the
 * rotation's lifetime carries `values[floor(n / repeat) % values.length]`. `sent` keeps counting
 * across runs, so every run continues with values the previous one did not use (until it wraps).
 * autocannon calls the setup right before each write (one call per request actually sent).
 */
export interface HeaderRotation {
  /** Header name, e.g. `authorization`. */
  readonly header: string;
  readonly values: readonly string[];
  /** Consecutive requests sharing one value (they go out on different connections at once); default 1. */
  readonly repeat: number;
  /** Requests set up so far. */
  sent: number;
}

/** A rotation over `values` (prefixed, e.g. `Bearer `), starting at the first. */
export function headerRotation(header: string, values: readonly string[], opts: { prefix?: string; repeat?: number } = {}): HeaderRotation {
  if (values.length === 0) throw new Error('header rotation needs at least one value');
  const repeat = opts.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`rotation repeat must be an integer ≥ 1, got ${repeat}`);
  const prefix = opts.prefix ?? '';
  return { header, values: prefix === '' ? values : values.map((v) => prefix + v), repeat, sent: 0 };
}

/** Pure: the value request number `n` (0-based, over the rotation's lifetime) carries. */
export function rotationValue(r: Pick<HeaderRotation, 'values' | 'repeat'>, n: number): string {
  return r.values[Math.floor(n / r.repeat) % r.values.length]!;
}

export type RateEngine = 'paced' | 'autocannon';

/** Fixed-offered-load flags; recorded in every result file. */
export interface FixedRateFlags {
  /** Offered load, requests per second, spread evenly (paced) or as per-second quotas (autocannon). */
  rate: number;
  /** Connections available to the generator (upper bound on concurrency). */
  connections: number;
  durationS: number;
  warmupS: number;
  timeoutS: number;
  path: string;
  headers?: Record<string, string>;
  engine: RateEngine;
}

export const DEFAULT_FIXED_RATE_FLAGS: FixedRateFlags = { rate: 2000, connections: 50, durationS: 5, warmupS: 1, timeoutS: 10, path: '/', engine: 'paced' };

export interface FixedRateResult extends LoadResult {
  offeredRps: number;
  engine: RateEngine;
  /** Paced engine only: latency from the actual send (p50/p99, ms); p50/p99 above count from the scheduled send. */
  service?: { p50: number; p99: number };
}

export interface SampleOptions {
  /** Process whose CPU time per response is recorded (the proxy under test), with every process below it (workers). */
  cpuPid?: number;
  /** The bench's own child processes (each with its descendants); CPU used by anything else is recorded as `foreignCores`. */
  ownPids?: readonly number[];
}

function histogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
}

function recordMs(h: RecordableHistogram, ms: number): void {
  h.record(Math.max(1, Math.round(ms * 1000)));
}

function pct(h: RecordableHistogram, p: number): number {
  return h.count === 0 ? Number.NaN : h.percentile(p) / 1000;
}

function cpuPerReq(pid: number | undefined, before: number | undefined, responses: number): number | undefined {
  if (pid === undefined || before === undefined || responses === 0) return undefined;
  const after = cpuSeconds(pid);
  return after === undefined ? undefined : ((after - before) * 1e6) / responses;
}

interface OnceFlags { connections: number; durationS: number; timeoutS: number; path: string; headers?: Record<string, string> | undefined; overallRate?: number; amount?: number }

/**
 * autocannon, loaded on first use: a devDependency, absent from production installs (the
 * container image), where every other command runs without it. Rejects naming the package.
 */
export async function loadAutocannon(): Promise<typeof autocannon> {
  try {
    return (await import('autocannon')).default;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error('bench needs the package "autocannon", a devDependency that production installs (npm ci --omit=dev, the container image) leave out: run it from a checkout after `npm ci`');
  }
}

async function autocannonOnce(url: string, f: OnceFlags, opts: SampleOptions, rotation?: HeaderRotation): Promise<LoadResult> {
  const autocannon = await loadAutocannon();
  const h = histogram();
  const target = new URL(f.path, url).href;
  const rot = rotation;
  const inst = autocannon({
    url: target, connections: f.connections, pipelining: 1, duration: f.durationS, timeout: f.timeoutS,
    ...(f.headers !== undefined ? { headers: f.headers } : {}),
    ...(f.overallRate !== undefined ? { overallRate: f.overallRate } : {}),
    ...(f.amount !== undefined ? { amount: f.amount } : {}),
    ...(rot !== undefined ? {
      requests: [{
        method: 'GET', path: f.path,
        setupRequest: (req: autocannon.RequestData) => {
          req.headers[rot.header] = rotationValue(rot, rot.sent++);
          return req;
        },
      }],
    } : {}),
  });
  inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) recordMs(h, ms);
  });
  const cpu0 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
  const foreign = opts.ownPids !== undefined ? watchForeignCpu(opts.ownPids) : undefined;
  const r = await inst;
  const foreignCores = foreign?.();
  const ok = r['2xx'];
  const durationS = r.duration > 0 ? r.duration : f.durationS;
  const out: LoadResult = { rps: ok / durationS, p50: pct(h, 50), p99: pct(h, 99), p999: pct(h, 99.9), errors: r.errors, non2xx: r.non2xx, requests: ok, durationS };
  const cpu = cpuPerReq(opts.cpuPid, cpu0, ok);
  if (cpu !== undefined) out.cpuUsPerReq = cpu;
  if (foreignCores !== undefined) out.foreignCores = foreignCores;
  return out;
}

/**
 * Closed loop: warm up, then measure with autocannon. With a rotation, each request carries the
 * rotation's next header value (warmup included). Rejects only if autocannon itself fails.
 */
export async function runLoad(url: string, flags: LoadFlags = DEFAULT_LOAD_FLAGS, opts: SampleOptions = {}, rotation?: HeaderRotation): Promise<LoadResult> {
  if (flags.loader === 'wrk') {
    if (rotation !== undefined) throw new Error('the wrk loader sends fixed headers only (no rotation)');
    return wrkOnce(url, flags, opts);
  }
  if (flags.warmupS > 0) await autocannonOnce(url, { ...flags, durationS: flags.warmupS }, {}, rotation);
  return autocannonOnce(url, flags, opts, rotation);
}

/**
 * Closed loop for exactly `amount` requests (no warmup): autocannon spreads them over the
 * connections and resolves once every response is in, so a rotation's `sent` afterwards is exact.
 * `rps` is responses over the elapsed time.
 */
export async function runAmount(url: string, flags: Omit<LoadFlags, 'durationS' | 'warmupS'> & { amount: number }, opts: SampleOptions = {}, rotation?: HeaderRotation): Promise<LoadResult> {
  if (!Number.isInteger(flags.amount) || flags.amount < flags.connections) throw new Error(`amount must be an integer ≥ connections (${flags.connections}), got ${flags.amount}`);
  return autocannonOnce(url, { ...flags, durationS: 0 }, opts, rotation);
}

interface PacedOutcome { ok: number; non2xx: number; errors: number; elapsedS: number; total: RecordableHistogram; service: RecordableHistogram }

/**
 * Open loop (wrk2-style): request i is due at start + i/rate whatever happened before; latency
 * counts from that scheduled instant, so a stall is charged to every request it delayed.
 * Dispatch spins on setImmediate for sub-millisecond pacing: it keeps the loader's CPU busy,
 * which is why the loader gets a core of its own (see cpuPlan).
 */
function pacedOnce(pool: Pool, f: FixedRateFlags): Promise<PacedOutcome> {
  const total = Math.max(1, Math.round(f.rate * f.durationS));
  const intervalMs = 1000 / f.rate;
  const out: PacedOutcome = { ok: 0, non2xx: 0, errors: 0, elapsedS: 0, total: histogram(), service: histogram() };
  let sent = 0;
  let settled = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    const settle = (): void => {
      if (++settled === total) {
        out.elapsedS = (performance.now() - start) / 1000;
        resolve(out);
      }
    };
    const fire = (due: number): void => {
      const sentAt = performance.now();
      pool.request({ path: f.path, method: 'GET', ...(f.headers !== undefined ? { headers: f.headers } : {}) }, (err, data) => {
        if (err !== null) { out.errors++; settle(); return; }
        data.body.dump().then(() => {
          const end = performance.now();
          if (data.statusCode >= 200 && data.statusCode < 300) {
            out.ok++;
            recordMs(out.total, end - due);
            recordMs(out.service, end - sentAt);
          } else out.non2xx++;
          settle();
        }, () => { out.errors++; settle(); });
      });
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      while (sent < due) fire(start + sent++ * intervalMs);
      if (sent < total) setImmediate(tick);
    };
    tick();
  });
}

/** Fixed offered load: warm up at the same rate, then measure. Achieved `rps` below the offered rate means the target (or loader) saturated. */
export async function runFixedRate(url: string, flags: FixedRateFlags = DEFAULT_FIXED_RATE_FLAGS, opts: SampleOptions = {}): Promise<FixedRateResult> {
  if (flags.engine === 'autocannon') {
    const ac = { ...flags, connections: Math.min(flags.connections, flags.rate), overallRate: flags.rate };
    if (flags.warmupS > 0) await autocannonOnce(url, { ...ac, durationS: flags.warmupS }, {});
    return { ...(await autocannonOnce(url, ac, opts)), offeredRps: flags.rate, engine: 'autocannon' };
  }
  // One pool for warmup and measurement: the measured window starts on open, warm connections.
  const pool = new Pool(new URL(url).origin, { connections: flags.connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: flags.timeoutS * 1000, bodyTimeout: flags.timeoutS * 1000 });
  let r: PacedOutcome;
  let cpu0: number | undefined;
  let foreignCores: number | undefined;
  try {
    if (flags.warmupS > 0) await pacedOnce(pool, { ...flags, durationS: flags.warmupS });
    cpu0 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
    const foreign = opts.ownPids !== undefined ? watchForeignCpu(opts.ownPids) : undefined;
    r = await pacedOnce(pool, flags);
    foreignCores = foreign?.();
  } finally {
    await pool.close().catch(() => {});
  }
  const out: FixedRateResult = {
    rps: r.ok / r.elapsedS, p50: pct(r.total, 50), p99: pct(r.total, 99), p999: pct(r.total, 99.9),
    errors: r.errors, non2xx: r.non2xx, requests: r.ok, durationS: r.elapsedS,
    offeredRps: flags.rate, engine: 'paced', service: { p50: pct(r.service, 50), p99: pct(r.service, 99) },
  };
  const cpu = cpuPerReq(opts.cpuPid, cpu0, r.ok);
  if (cpu !== undefined) out.cpuUsPerReq = cpu;
  if (foreignCores !== undefined) out.foreignCores = foreignCores;
  return out;
}
