// Scenario `soak`: DESIGN §6's "no growth in a 10-minute soak" on a proxy process started as a
// user starts it (`serve`, workers 1), under closed-loop load for the whole time. Every request
// carries the next of N distinct JWTs in rotation while the verified-token cache holds fewer
// than N, so the cold path runs all the time: JWT verification on the pool, cache inserts and
// CLOCK evictions, the upstream hop. The proxy's RSS (from /proc), its lowest V8 heapUsed in
// the slice (admin /metrics, polled each second) and its cache size are sampled per 10 s slice;
// the first minute (JIT, pool, cache filling) is warmup. Judged on the second half's slopes.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { cpuPlan } from './cpu-plan.js';
import { DEFAULT_LOAD_FLAGS, headerRotation, runLoad, type LoadFlags } from './load.js';
import { pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { startPortcullis, startUpstreamProcess } from './targets.js';
import { adminStats, startAuthServerProcess, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';

const MiB = 2 ** 20;
const SLICE_S = 10;

export interface SoakSample {
  /** Seconds since the load started (end of the slice). */
  t: number;
  rss: number;
  /** Lowest V8 heapUsed seen in the slice (polled each second from /metrics): the live heap plus old garbage, without the young-generation sawtooth. */
  heapMin: number;
  requests: number;
  non2xx: number;
  errors: number;
  cacheEntries: number;
}

export interface SoakSummary {
  durationS: number;
  warmupS: number;
  requests: number;
  rps: number;
  non2xx: number;
  errors: number;
  /** RSS at the end of the warmup, bytes. */
  rssAfterWarmup: number;
  rssEnd: number;
  rssMax: number;
  /** Least-squares slope of RSS over the samples after the warmup, bytes per minute. */
  slopePerMin: number;
  /** The same over the second half of the run: ~0 once memory has levelled off. */
  lateSlopePerMin: number;
  /** Slope of the per-slice heap minimum over the second half, bytes per minute. */
  lateHeapSlopePerMin: number;
  heapAfterWarmup: number;
  heapEnd: number;
  /** rssEnd − rssAfterWarmup, bytes. */
  growth: number;
  /** Flat: over the second half, the RSS and heap slopes projected over 10 minutes are each under 5 % of the RSS and under 32 MiB. */
  flat: boolean;
}

/** Pure: least-squares slope of y over x; 0 with fewer than two points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0; let sy = 0;
  for (let i = 0; i < n; i++) { sx += xs[i]!; sy += ys[i]!; }
  const mx = sx / n; const my = sy / n;
  let num = 0; let den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i]! - mx) * (ys[i]! - my); den += (xs[i]! - mx) ** 2; }
  return den === 0 ? 0 : num / den;
}

/** Pure: what the samples say about growth after `warmupS`. */
export function summariseSoak(samples: readonly SoakSample[], warmupS: number): SoakSummary {
  if (samples.length === 0) throw new Error('soak: no samples');
  const last = samples[samples.length - 1]!;
  const measured = samples.filter((s) => s.t >= warmupS);
  const base = [...samples].reverse().find((s) => s.t <= warmupS) ?? samples[0]!;
  const window = measured.length >= 2 ? measured : samples;
  const perS = slope(window.map((s) => s.t), window.map((s) => s.rss));
  // judged on the rate in the second half (levelled off or not), projected over ten minutes,
  // so a short run does not pass by being short
  const late = samples.filter((s) => s.t >= Math.max(warmupS, last.t / 2));
  const lateWin = late.length >= 2 ? late : window;
  const lateRss = slope(lateWin.map((s) => s.t), lateWin.map((s) => s.rss));
  const lateHeap = slope(lateWin.map((s) => s.t), lateWin.map((s) => s.heapMin));
  const limit = Math.min(0.05 * base.rss, 32 * MiB);
  const requests = samples.reduce((a, s) => a + s.requests, 0);
  return {
    durationS: last.t, warmupS, requests, rps: requests / Math.max(1, last.t),
    non2xx: samples.reduce((a, s) => a + s.non2xx, 0), errors: samples.reduce((a, s) => a + s.errors, 0),
    rssAfterWarmup: base.rss, rssEnd: last.rss, rssMax: Math.max(...samples.map((s) => s.rss)),
    slopePerMin: perS * 60, lateSlopePerMin: lateRss * 60, lateHeapSlopePerMin: lateHeap * 60,
    heapAfterWarmup: base.heapMin, heapEnd: last.heapMin, growth: last.rss - base.rss,
    flat: lateRss * 600 < limit && lateHeap * 600 < limit,
  };
}

/** Pure: the markdown for RESULTS.md. */
export function soakTable(s: SoakSummary, samples: readonly SoakSample[], tokens: number, cacheEntries: number): string {
  const mib = (b: number): string => cell(b / MiB, 1);
  const perMin = (b: number): string => `${b >= 0 ? '+' : ''}${mib(b)} MiB/min`;
  const head = markdownTable(
    ['duration', 'requests', 'rps', 'non-2xx', 'errors', 'RSS after warmup → end (max)', 'RSS slope after warmup', 'RSS slope, 2nd half', 'heap min after warmup → end', 'heap slope, 2nd half', 'verdict'],
    [[`${Math.round(s.durationS)} s (warmup ${s.warmupS} s)`, String(s.requests), cell(s.rps, 0), String(s.non2xx), String(s.errors),
      `${mib(s.rssAfterWarmup)} → ${mib(s.rssEnd)} (${mib(s.rssMax)}) MiB`, perMin(s.slopePerMin), perMin(s.lateSlopePerMin),
      `${mib(s.heapAfterWarmup)} → ${mib(s.heapEnd)} MiB`, perMin(s.lateHeapSlopePerMin), s.flat ? 'flat' : 'GROWS']],
    [false, true, true, true, true, true, true, true, true, true, false],
  );
  const every = Math.max(1, Math.round(samples.length / 12));
  const trace = samples.filter((_, i) => i % every === 0 || i === samples.length - 1).map((x) => `${Math.round(x.t)} s ${mib(x.rss)}/${mib(x.heapMin)}`).join(' · ');
  return `**Soak** — one Portcullis process (workers 1, verifier pool 1) under closed-loop load (50 connections), every request the next of ${tokens} distinct JWTs with a cache of ${cacheEntries}: each request verifies on the pool, inserts and evicts.\n\n${head}\n\nRSS / heap minimum (MiB) over time: ${trace}`;
}

/** `portcullis_process_heap_used_bytes` from the admin /metrics (node/instance-stats.ts), NaN when absent. */
async function heapUsed(adminPort: number, adminToken: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith('portcullis_process_heap_used_bytes '));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

export async function soak(opts: ScenarioOptions): Promise<ScenarioReport> {
  const durationS = opts.quick ? 30 : Number(process.env.PORTCULLIS_BENCH_SOAK_S ?? 600);
  const warmupS = opts.quick ? 10 : 60;
  const nTokens = opts.quick ? 3_000 : 30_000;
  const cacheEntries = Math.floor(nTokens / 3);
  const plan = cpuPlan(availableParallelism());
  const stops: Array<() => Promise<void> | void> = [];
  let restore = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const tokens = await as.mint({ kind: 'jwt', alg: opts.jwtAlg, count: nTokens });
    pinPid(as.process.pid, plan.loader);
    restore = pinSelf(plan.loader);
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const { env, adminToken } = tokenConfigEnv();
    const pc = await startPortcullis(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [opts.jwtAlg], poolSize: 1, cacheEntries }), plan.proxy, env);
    stops.push(() => pc.stop());
    await waitUntilServing('portcullis', pc.url + '/', { authorization: `Bearer ${tokens[0]}` });
    const rotation = headerRotation('authorization', tokens, { prefix: 'Bearer ' });
    const flags: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: SLICE_S, warmupS: 0 };
    const samples: SoakSample[] = [];
    const t0 = performance.now();
    while ((performance.now() - t0) / 1000 < durationS) {
      let heapMin = Number.POSITIVE_INFINITY;
      let polling = true;
      const poller = (async () => {
        while (polling) {
          heapMin = Math.min(heapMin, await heapUsed(pc.adminPort, adminToken).catch(() => Number.POSITIVE_INFINITY));
          await new Promise((res) => setTimeout(res, 1000));
        }
      })();
      const r = await runLoad(pc.url, flags, {}, rotation);
      polling = false;
      await poller;
      const st = await adminStats(pc.adminPort, adminToken);
      const sample: SoakSample = { t: (performance.now() - t0) / 1000, rss: rssOf(pc.process.pid), heapMin, requests: r.requests + r.non2xx, non2xx: r.non2xx, errors: r.errors, cacheEntries: st['jwt.cache_entries'] ?? -1 };
      samples.push(sample);
      say(`  ${sample.t.toFixed(0).padStart(4)} s  RSS ${(sample.rss / MiB).toFixed(1)} MiB  heap min ${(heapMin / MiB).toFixed(1)} MiB  ${(r.requests / SLICE_S).toFixed(0)} rps  non-2xx ${r.non2xx}  errors ${r.errors}  cache ${sample.cacheEntries}`);
    }
    const summary = summariseSoak(samples, warmupS);
    const warnings: string[] = [];
    if (summary.non2xx > 0 || summary.errors > 0) warnings.push(`${summary.non2xx} non-2xx and ${summary.errors} errors: every token was valid`);
    if (!summary.flat) warnings.push(`memory still grows in the second half: RSS ${(summary.lateSlopePerMin / MiB).toFixed(1)} MiB/min, heap ${(summary.lateHeapSlopePerMin / MiB).toFixed(1)} MiB/min`);
    return {
      scenario: 'soak', quick: opts.quick, flags: { durationS, warmupS, sliceS: SLICE_S, tokens: nTokens, cacheEntries, alg: opts.jwtAlg, connections: flags.connections },
      cpuPlan: plan, peers: {}, skipped: {}, rounds: samples, summary, warnings, table: soakTable(summary, samples, nTokens, cacheEntries),
    };
  } finally {
    restore();
    for (const stop of stops.reverse()) await stop();
  }
}
