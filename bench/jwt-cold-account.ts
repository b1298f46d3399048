// Issue 13's accounting of the all-miss JWT path: the same build serving distinct tokens (cold:
// every request verifies) and one token (warm: every request a cache hit), `verifier.mode:
// inline`, cache 1024, in alternating rounds under one CPU split, each process carrying
// jwt-cold-gc-preload: CPU µs, heap bytes, bytes scavenges kept and GCs (scavenge / mark-compact / incremental, count
// and pause) per request. Cold − warm is what a miss costs over HTTP.
// Run: `node dist/bench/jwt-cold-account.js` (env: PORTCULLIS_BENCH_ROUNDS, _DURATION_S,
// _BASELINE = another built checkout that knows `verifier.mode`, _CPU_PROF_DIR, _ACCOUNT_SPREAD=1,
// _ACCOUNT_NODE_OPTIONS = V8/Node flags for a third build row `this+opts`, e.g. --max-semi-space-size=64).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { COLD_CACHE_ENTRIES, COLD_TOKENS } from './jwt-cold.bench.js';
import { cpuPlan, cpuPlanSpread } from './cpu-plan.js';
import { parseColdGc, type ColdGcLine } from './jwt-cold-gc-preload.js';
import { DEFAULT_LOAD_FLAGS, headerRotation, runLoad, type HeaderRotation, type LoadFlags } from './load.js';
import { compiledRoot, localResultsDir } from './paths.js';
import { pinPid, pinSelf, type ManagedProcess } from './processes.js';
import { cell, markdownTable, writeResults } from './results.js';
import { quietGate } from './side-by-side.js';
import { median, roundOrder } from './stats.js';
import { startPortcullis, startUpstreamProcess } from './targets.js';
import { adminStats, startAuthServerProcess, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';

/** One measured run of one target. */
export interface AccountRun {
  rps: number;
  cpuUsPerReq: number | null;
  heapBytesPerReq: number | null;
  /** Bytes scavenges kept (left young + promoted) per request: the copying the cache's churn costs. */
  survivedBytesPerReq: number | null;
  promotedBytesPerReq: number | null;
  /** Signature verifications per authenticated request (1 = all cold, 0 = all warm). */
  verificationsPerReq: number | null;
  /** Per 10 000 requests: GC count and summed pause (ms) by kind. */
  gcPer10k: Record<'scavenge' | 'markCompact' | 'incremental' | 'other', { n: number; ms: number }> | null;
  foreignCores: number | null;
}

/** Pure: a run's per-request figures from its counters and GC line. */
export function accountRun(rps: number, cpuUsPerReq: number | undefined, foreign: number | undefined, requests: number, verifications: number, gc: ColdGcLine['coldGc'] | null): AccountRun {
  const per = (x: number): number => (requests > 0 ? x / requests : Number.NaN);
  const k = (g: { n: number; ms: number }): { n: number; ms: number } => ({ n: per(g.n) * 10_000, ms: per(g.ms) * 10_000 });
  return {
    rps, cpuUsPerReq: cpuUsPerReq ?? null, foreignCores: foreign ?? null,
    heapBytesPerReq: gc === null || requests <= 0 ? null : gc.bytes / requests,
    survivedBytesPerReq: gc?.survived === undefined || requests <= 0 ? null : gc.survived / requests,
    promotedBytesPerReq: gc?.promoted === undefined || requests <= 0 ? null : gc.promoted / requests,
    verificationsPerReq: requests > 0 ? verifications / requests : null,
    gcPer10k: gc === null || requests <= 0 ? null : { scavenge: k(gc.scavenge), markCompact: k(gc.markCompact), incremental: k(gc.incremental), other: k(gc.other) },
  };
}

const med = (xs: readonly (number | null | undefined)[]): number | null => {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length === 0 ? null : median(v);
};

/** Pure: median over rounds of a − b for one figure (rounds paired by index). */
export function pairedDelta(a: readonly AccountRun[], b: readonly AccountRun[], pick: (r: AccountRun) => number | null): number | null {
  const d: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = pick(a[i]!), y = pick(b[i]!);
    if (x !== null && y !== null) d.push(x - y);
  }
  return d.length === 0 ? null : median(d);
}

/** Pure: the table of medians, then cold − warm per build and this build / baseline for each load. */
export function accountTables(runs: Record<string, AccountRun[]>, builds: readonly string[]): string {
  const gcCell = (rs: AccountRun[], kind: 'scavenge' | 'markCompact' | 'incremental'): string =>
    `${cell(med(rs.map((r) => r.gcPer10k?.[kind].n)), 1)} · ${cell(med(rs.map((r) => r.gcPer10k?.[kind].ms)), 1)} ms`;
  const rows = Object.entries(runs).map(([name, rs]) => [
    name, cell(med(rs.map((r) => r.rps)), 0), cell(med(rs.map((r) => r.cpuUsPerReq)), 1), cell(med(rs.map((r) => r.heapBytesPerReq)), 0),
    `${cell(med(rs.map((r) => r.survivedBytesPerReq)), 0)} · ${cell(med(rs.map((r) => r.promotedBytesPerReq)), 0)}`,
    cell(med(rs.map((r) => r.verificationsPerReq)), 3), gcCell(rs, 'scavenge'), gcCell(rs, 'markCompact'), gcCell(rs, 'incremental'),
    `${cell(Math.min(...rs.map((r) => r.foreignCores ?? 0)))}–${cell(Math.max(...rs.map((r) => r.foreignCores ?? 0)))}`,
  ]);
  const main = markdownTable(['target', 'rps', 'CPU µs/req', 'heap B/req', 'scavenge-kept · promoted B/req', 'verifications/req', 'scavenges /10k req · pause', 'mark-compacts /10k · pause', 'incremental /10k · pause', 'foreign CPU'], rows, [false, true, true, true, true, true, true, true, true, false]);
  const deltas: string[][] = [];
  const gcMs = (r: AccountRun): number | null => (r.gcPer10k === null ? null : (r.gcPer10k.scavenge.ms + r.gcPer10k.markCompact.ms + r.gcPer10k.incremental.ms + r.gcPer10k.other.ms) / 10);
  const add = (label: string, a: AccountRun[] | undefined, b: AccountRun[] | undefined): void => {
    if (a === undefined || b === undefined) return;
    deltas.push([label, cell(pairedDelta(a, b, (r) => r.cpuUsPerReq), 1), cell(pairedDelta(a, b, (r) => r.heapBytesPerReq), 0),
      cell(pairedDelta(a, b, (r) => r.survivedBytesPerReq), 0), cell(pairedDelta(a, b, gcMs), 2)]);
  };
  for (const b of builds) add(`${b}: cold − warm`, runs[`${b}-cold`], runs[`${b}-warm`]);
  if (builds.length > 1) for (const load of ['cold', 'warm']) add(`${load}: ${builds[0]} − ${builds[1]}`, runs[`${builds[0]}-${load}`], runs[`${builds[1]}-${load}`]);
  const diff = markdownTable(['difference (median of per-round differences)', 'CPU µs/req', 'heap B/req', 'scavenge-kept B/req', 'GC pause µs/req'], deltas, [false, true, true, true, true]);
  return `${main}\n\n${diff}`;
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

interface Target { name: string; url: string; pid: number; adminPort: number; adminToken: string; proc: ManagedProcess; rotation: HeaderRotation | null; headers: Record<string, string> }

/** Run the accounting; every process it starts is stopped on the way out. */
export async function jwtColdAccount(env: NodeJS.ProcessEnv = process.env): Promise<{ runs: Record<string, AccountRun[]>; table: string; pids: Record<string, number> }> {
  const rounds = Number(env.PORTCULLIS_BENCH_ROUNDS ?? 4) || 4;
  const durationS = Number(env.PORTCULLIS_BENCH_DURATION_S ?? 5) || 5;
  const baselineRoot = env.PORTCULLIS_BENCH_BASELINE ?? '';
  const cores = availableParallelism();
  const plan = env.PORTCULLIS_BENCH_ACCOUNT_SPREAD === '1' ? cpuPlanSpread(cores) : cpuPlan(cores);
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS, warmupS: 1 };
  const stops: Array<() => Promise<void> | void> = [];
  let restore = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const tokens = await as.mint({ kind: 'jwt', alg: 'RS256', count: COLD_TOKENS });
    pinPid(as.process.pid, plan.loader);
    restore = pinSelf(plan.loader);
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const preload = join(compiledRoot(), 'bench', 'jwt-cold-gc-preload.js');
    const builds: [string, string | undefined, string][] = [['this', undefined, '']];
    if (baselineRoot !== '') builds.push(['baseline', join(baselineRoot, 'dist', 'cluster', 'cli', 'main.js'), '']);
    if ((env.PORTCULLIS_BENCH_ACCOUNT_NODE_OPTIONS ?? '') !== '') builds.push(['this+opts', undefined, env.PORTCULLIS_BENCH_ACCOUNT_NODE_OPTIONS!]);
    const targets: Target[] = [];
    for (const [build, cli, extra] of builds) {
      for (const kind of ['cold', 'warm'] as const) {
        const { env: penv, adminToken } = tokenConfigEnv();
        const pc = await startPortcullis(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['RS256'], poolSize: 1, cacheEntries: COLD_CACHE_ENTRIES, verifierMode: 'inline' }), plan.proxy,
          { ...penv, PORTCULLIS_BENCH_COLD_GC_PRELOAD: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${extra} --import ${preload}`.trim() }, cli);
        stops.push(() => pc.stop());
        // tokens[0] is the warm token (and the readiness probe's): it stays out of the cold rotation
        targets.push({ name: `${build}-${kind}`, url: pc.url, pid: pc.process.pid, adminPort: pc.adminPort, adminToken, proc: pc.process,
          rotation: kind === 'cold' ? headerRotation('authorization', tokens.slice(1), { prefix: 'Bearer ' }) : null, headers: { authorization: `Bearer ${tokens[0]!}` } });
      }
    }
    for (const t of targets) await waitUntilServing(t.name, t.url + load.path, t.headers);
    const pids = Object.fromEntries(targets.map((t) => [t.name, t.pid]));
    say(`  pids (CPU profiles are named by pid): ${JSON.stringify(pids)}`);
    const ownPids = [...targets.map((t) => t.pid), upstream.process.pid, as.process.pid];
    const gate = quietGate(60);
    const runs: Record<string, AccountRun[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const t of roundOrder(targets, round)) {
        await gate.wait(ownPids);
        const st0 = await adminStats(t.adminPort, t.adminToken);
        process.kill(t.pid, 'SIGUSR2');
        const r = await runLoad(t.url, t.rotation === null ? { ...load, headers: t.headers } : load, { cpuPid: t.pid, ownPids }, t.rotation ?? undefined);
        const before = t.proc.output().length;
        process.kill(t.pid, 'SIGUSR2');
        for (let i = 0; i < 50 && t.proc.output().length === before; i++) await new Promise((res) => setTimeout(res, 20));
        const gc = parseColdGc(t.proc.output());
        const st1 = await adminStats(t.adminPort, t.adminToken);
        const requests = (st1['jwt.cache_hits']! + st1['jwt.cache_misses']!) - (st0['jwt.cache_hits']! + st0['jwt.cache_misses']!);
        const a = accountRun(r.rps, r.cpuUsPerReq, r.foreignCores, requests, st1['jwt.verify_ok']! - st0['jwt.verify_ok']!, gc);
        (runs[t.name] ??= []).push(a);
        say(`  round ${round + 1}/${rounds} ${t.name.padEnd(14)} ${r.rps.toFixed(0).padStart(6)} rps  CPU ${cell(a.cpuUsPerReq, 1)} µs/req  heap ${cell(a.heapBytesPerReq, 0)} B/req  kept ${cell(a.survivedBytesPerReq, 0)} B/req  verif/req ${cell(a.verificationsPerReq, 3)}  GC/10k: scav ${cell(a.gcPer10k?.scavenge.n, 1)} (${cell(a.gcPer10k?.scavenge.ms, 1)} ms) mc ${cell(a.gcPer10k?.markCompact.n, 2)} (${cell(a.gcPer10k?.markCompact.ms, 1)} ms) inc ${cell(a.gcPer10k?.incremental.n, 2)} (${cell(a.gcPer10k?.incremental.ms, 1)} ms)  foreign ${cell(a.foreignCores)}`);
      }
    }
    return { runs, pids, table: `CPU split: ${plan.note}\n\n${accountTables(runs, builds.map(([b]) => b))}` };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restore();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await jwtColdAccount();
  say('\n' + out.table);
  say(`\nJSON: ${writeResults('jwt-cold-account', { date: new Date().toISOString(), node: process.version, ...out }, { dir: localResultsDir() })}`);
}
