// Scenario tail-peer (issue 13): where the added p99 at a fixed 2000 rps comes from on the peer
// harness's terms. One warm RS256 token; Portcullis workers 1 and 2, HAProxy nbthread 1 and 2, each
// either allowed both CPUs (the peer terms: sharing CPU 0 with the loader) or kept on CPU 1 with the
// upstream; rotated rounds; the whole latency distribution, CPU of the primary and of the workers,
// connections per worker, GC pauses per process; the loader's pacer spin or timer.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { cpuPlanSpread } from './cpu-plan.js';
import { haproxyForwardforFromEnv, startHaproxy } from './haproxy.js';
import { parseGcPauses } from './gc-pause-preload.js';
import { cpuSeconds, pinPid, pinSelf, processTree, watchForeignCpu } from './processes.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { FOREIGN_CPU_LIMIT, quietGate } from './side-by-side.js';
import { median } from './stats.js';
import { runTailLoad, type Pacer, type TailLoadFlags, type TailLoadResult } from './tail-peer-load.js';
import { threadStats, type ThreadStat } from './sched-stats.js';
import { startPortcullis, startUpstreamProcess } from './targets.js';
import { haproxyJwtChecks, publicKeyPem, startAuthServerProcess, tempFile, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';
import { compiledRoot } from './paths.js';
import { join } from 'node:path';

/** A target: proxy kind, processes/threads, the CPUs it may use. */
interface TailTarget { name: string; url: string; pid: number; kind: 'direct' | 'portcullis' | 'haproxy' }

/** Per round and target: the load result plus the proxy's own accounting. */
export interface TailRound extends TailLoadResult {
  target: string;
  pacer: Pacer;
  round: number;
  /** CPU µs per response: the whole tree, and the node:cluster primary alone (null: no primary). */
  cpuUsPerReq: number | null;
  primaryUsPerReq: number | null;
  foreignCores: number | null;
  /** Runqueue wait (runnable, no CPU) per response, µs: the proxy's main threads (every process) and the loader's main thread (schedstat). */
  proxyWaitUs: number;
  loaderWaitUs: number;
  /** Involuntary context switches of the proxy's main threads per 1000 responses. */
  proxyNvPer1000: number;
  /** CPU of the primary's threads per response from schedstat, µs (null: no primary). */
  primaryRunUs: number | null;
  /** Established client connections per process (workers of a primary), sampled mid-window. */
  connsPerProcess: number[];
  /** GC pauses per Portcullis process in the window (gc-pause-preload), busiest first. */
  gc: Array<{ pid: number; minorCount: number; minorMaxMs: number; majorCount: number; maxMs: number; totalMs: number }>;
}

export const TAIL_TARGETS_ENV = 'PORTCULLIS_BENCH_TAIL_TARGETS';
export const TAIL_PACERS_ENV = 'PORTCULLIS_BENCH_TAIL_PACERS';
/** Default set: the peer terms' rows (workers 2 / nbthread 2 on both CPUs) and what isolates them. */
export const DEFAULT_TAIL_TARGETS = ['direct', 'pc-w1-cpu01', 'pc-w2-cpu01', 'pc-w2-cpu1', 'hap-t1-cpu01', 'hap-t2-cpu01', 'hap-t2-cpu1'] as const;
const TARGET_RE = /^(pc-w|base-w|hap-t)(\d)-cpu(01|0|1)$/;
/** `base-w<N>-cpu…` rows run the build at $PORTCULLIS_BENCH_BASELINE (its dist/ built): before/after in the same rounds. */
export const BASELINE_ENV = 'PORTCULLIS_BENCH_BASELINE';

/** Pure: the target names from $PORTCULLIS_BENCH_TAIL_TARGETS (comma-separated), default DEFAULT_TAIL_TARGETS; throws on a bad name. */
export function tailTargets(env: string | undefined): string[] {
  const names = env === undefined || env.trim() === '' ? [...DEFAULT_TAIL_TARGETS] : env.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (n !== 'direct' && !TARGET_RE.test(n)) throw new Error(`${TAIL_TARGETS_ENV}: "${n}" is not direct or pc-w<N>-cpu<01|0|1> / base-w<N>-cpu<01|0|1> / hap-t<N>-cpu<01|0|1>`);
  if (!names.includes('direct')) names.unshift('direct');
  return names;
}

/** Pure: pacers from $PORTCULLIS_BENCH_TAIL_PACERS (spin, timer or both comma-separated; default spin). */
export function tailPacers(env: string | undefined): Pacer[] {
  const ps = env === undefined || env.trim() === '' ? ['spin'] : env.split(',').map((s) => s.trim());
  for (const p of ps) if (p !== 'spin' && p !== 'timer') throw new Error(`${TAIL_PACERS_ENV}: spin or timer, not "${p}"`);
  return ps as Pacer[];
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

function cpusOf(spec: string): number[] { return spec === '01' ? [0, 1] : [Number(spec)]; }

/** Established TCP connections on local `port` held by each of `pids` (/proc/net/tcp inodes matched to /proc/<pid>/fd); async so the loader is not blocked. */
async function connectionsPerPid(port: number, pids: readonly number[]): Promise<number[]> {
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    const inodes = new Set<string>();
    for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const text = await readFile(f, 'utf8').catch(() => '');
      for (const l of text.split('\n').slice(1)) {
        const c = l.trim().split(/\s+/);
        if (c.length > 9 && c[1]!.endsWith(`:${hex}`) && c[3] === '01') inodes.add(c[9]!);
      }
    }
    const out: number[] = [];
    for (const pid of pids) {
      const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      let n = 0;
      for (const fd of fds) {
        const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m !== null && inodes.has(m[1]!)) n++;
      }
      out.push(n);
    }
    return out;
  } catch { return []; }
}

/** Signal the GC preload in every process of the tree and read the window lines they write (workers share the primary's stderr), busiest first. */
export async function gcWindow(output: (() => string) | null, tree: readonly number[]): Promise<TailRound['gc']> {
  for (const pid of tree) { try { process.kill(pid, 'SIGUSR2'); } catch { /* gone */ } }
  await new Promise((r) => setTimeout(r, 150));
  if (output === null) return [];
  const mine = new Set(tree);
  const last = new Map(parseGcPauses(output()).filter((g) => mine.has(g.pid)).map((g) => [g.pid, g]));
  return [...last.values()].map((g) => ({ pid: g.pid, minorCount: g.minor.count, minorMaxMs: g.minor.maxMs, majorCount: g.major.count, maxMs: Math.max(g.minor.maxMs, g.major.maxMs, g.other.maxMs), totalMs: g.minor.totalMs + g.major.totalMs + g.other.totalMs }))
    .sort((x, y) => y.minorCount - x.minorCount);
}

/** Run the scenario; every process it starts is stopped on the way out. */
export async function tailPeer(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlanSpread(availableParallelism());
  const names = tailTargets(process.env[TAIL_TARGETS_ENV]);
  const pacers = tailPacers(process.env[TAIL_PACERS_ENV]);
  const stops: Array<() => Promise<void> | void> = [];
  let restore = (): void => {};
  const outputs = new Map<string, () => string>();
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token] = await as.mint({ kind: 'jwt', alg: opts.jwtAlg, count: 1 });
    pinPid(as.process.pid, plan.loader);
    restore = pinSelf(plan.loader);
    const headers = { authorization: `Bearer ${token}` };
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const { env } = tokenConfigEnv();
    const pem = tempFile(`${opts.jwtAlg}.pem`, await publicKeyPem(as.jwksUri, opts.jwtAlg));
    stops.push(() => pem.cleanup());
    const preload = { NODE_OPTIONS: `--import ${join(compiledRoot(), 'bench', 'gc-pause-preload.js')}`, PORTCULLIS_BENCH_GC_PRELOAD: '1' };
    const targets: TailTarget[] = [];
    for (const name of names) {
      if (name === 'direct') { targets.push({ name, url: upstream.url, pid: upstream.process.pid, kind: 'direct' }); continue; }
      const [, kind, n, cpu] = TARGET_RE.exec(name)!;
      if (kind === 'pc-w' || kind === 'base-w') {
        const base = process.env[BASELINE_ENV];
        if (kind === 'base-w' && (base === undefined || base === '')) throw new Error(`${name}: set ${BASELINE_ENV} to another built checkout`);
        const yaml = tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [opts.jwtAlg], poolSize: 1, cacheEntries: 100_000, workers: Number(n) });
        const pc = await startPortcullis(yaml, cpusOf(cpu!), { ...env, ...preload }, kind === 'base-w' ? join(base!, 'dist', 'cluster', 'cli', 'main.js') : undefined);
        stops.push(() => pc.stop());
        outputs.set(name, () => pc.process.output());
        targets.push({ name, url: pc.url, pid: pc.process.pid, kind: 'portcullis' });
      } else {
        const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: Number(n), cpus: cpusOf(cpu!), forwardfor: haproxyForwardforFromEnv(), jwt: haproxyJwtChecks(pem.path, opts.jwtAlg, as.issuer, true) });
        if (hp.skipped) { say(`skip ${name}: ${hp.reason}`); continue; }
        stops.push(() => hp.stop());
        targets.push({ name, url: hp.url, pid: hp.process.pid, kind: 'haproxy' });
      }
    }
    for (const t of targets) await waitUntilServing(t.name, t.url + '/', headers);
    const ownPids = [...targets.map((t) => t.pid), as.process.pid];
    const flags = (pacer: Pacer): TailLoadFlags => ({ rate: 2000, connections: 50, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 2, path: '/', headers, pacer });
    const rounds: TailRound[] = [];
    const gate = quietGate(opts.quick ? 5 : 300);
    for (let round = 0; round < opts.rounds; round++) {
      for (const pacer of pacers) {
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          await gate.wait(ownPids);
          const tree = (): number[] => processTree(t.pid);
          const procPids = t.kind === 'portcullis' ? tree() : [t.pid];
          const schedPids = t.kind === 'portcullis' ? procPids : [t.pid];
          const fl = flags(pacer);
          // warm up on the same pool settings; the GC window of the preload is reset at the start of the measured part
          await runTailLoad(t.url, { ...fl, durationS: fl.warmupS, warmupS: 0 });
          if (t.kind === 'portcullis') await gcWindow(null, procPids);
          const c0 = cpuSeconds(t.pid);
          const own0 = t.kind === 'portcullis' && procPids.length > 1 ? c0! - procPids.slice(1).reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0) : null;
          const foreign = watchForeignCpu(ownPids);
          const s0 = schedPids.map((p) => threadStats(p));
          const l0 = threadStats(process.pid);
          const port = Number(new URL(t.url).port);
          const connPids = procPids.length > 1 ? procPids.slice(1) : procPids;
          let conns: Promise<number[]> = Promise.resolve([]);
          const sample = setTimeout(() => { conns = connectionsPerPid(port, connPids); }, (fl.durationS / 2) * 1000);
          const r = await runTailLoad(t.url, { ...fl, warmupS: 0 });
          clearTimeout(sample);
          const s1 = schedPids.map((p) => threadStats(p));
          const l1 = threadStats(process.pid);
          const n = Math.max(1, r.requests);
          const main = (pid: number, ts: readonly ThreadStat[]): ThreadStat => ts.find((x) => x.tid === pid) ?? { tid: pid, comm: '', runNs: 0, waitNs: 0, nonvoluntary: 0 };
          const d = (k: 'waitNs' | 'nonvoluntary', i: number): number => main(schedPids[i]!, s1[i]!)[k] - main(schedPids[i]!, s0[i]!)[k];
          // HAProxy's threads all serve requests; a Node process's requests run on its main thread
          const allWait = (ts: readonly ThreadStat[]): number => ts.reduce((x, y) => x + y.waitNs, 0);
          const proxyWaitUs = (t.kind === 'haproxy' ? allWait(s1[0]!) - allWait(s0[0]!) : schedPids.reduce((sum, _, i) => sum + d('waitNs', i), 0)) / 1e3 / n;
          const proxyNvPer1000 = (schedPids.reduce((sum, _, i) => sum + d('nonvoluntary', i), 0) * 1000) / n;
          const loaderWaitUs = (main(process.pid, l1).waitNs - main(process.pid, l0).waitNs) / 1e3 / n;
          const allRun = (ts: readonly ThreadStat[]): number => ts.reduce((x, y) => x + y.runNs, 0);
          const primaryRunUs = t.kind === 'portcullis' && schedPids.length > 1 ? (allRun(s1[0]!) - allRun(s0[0]!)) / 1e3 / n : null;
          const fc = foreign() ?? null;
          const c1 = cpuSeconds(t.pid);
          const own1 = own0 !== null ? c1! - procPids.slice(1).reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0) : null;
          const gc = t.kind === 'portcullis' ? await gcWindow(outputs.get(t.name)!, procPids) : [];
          const row: TailRound = {
            ...r, target: t.name, pacer, round,
            cpuUsPerReq: c0 !== undefined && c1 !== undefined ? ((c1 - c0) * 1e6) / Math.max(1, r.requests) : null,
            primaryUsPerReq: own0 !== null && own1 !== null ? ((own1 - own0) * 1e6) / Math.max(1, r.requests) : null,
            foreignCores: fc, proxyWaitUs, loaderWaitUs, proxyNvPer1000, primaryRunUs,
            connsPerProcess: await conns,
            gc,
          };
          rounds.push(row);
          say(`  ${pacer} r${round + 1} ${t.name.padEnd(13)} p50 ${r.p50.toFixed(3)} p90 ${r.p90.toFixed(3)} p99 ${r.p99.toFixed(3)} p99.9 ${r.p999.toFixed(3)} max ${r.max.toFixed(1)} >1ms ${(r.over1ms * 100).toFixed(2)}% cpu ${row.cpuUsPerReq?.toFixed(0)} prim ${row.primaryUsPerReq?.toFixed(1) ?? '-'} conns ${row.connsPerProcess.join('/')} wait ${proxyWaitUs.toFixed(1)} nv ${proxyNvPer1000.toFixed(0)} ldwait ${loaderWaitUs.toFixed(1)} primrun ${primaryRunUs?.toFixed(2) ?? '-'} gc ${row.gc.map((g) => `${g.minorCount}/${g.maxMs.toFixed(1)}`).join(',')} svc99 ${r.svcP99.toFixed(3)} loader ${r.loaderCores.toFixed(2)} foreign ${fc?.toFixed(2)}`);
        }
      }
    }
    const table = tailTable(rounds, names, pacers);
    return {
      scenario: 'tail-peer', quick: opts.quick,
      flags: { rate: 2000, connections: 50, durationS: opts.durationS, pacers, targets: names, alg: opts.jwtAlg, rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS },
      cpuPlan: plan, peers: {}, skipped: {}, rounds, summary: null, warnings: [], table,
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restore();
  }
}

/** Pure: per pacer and target, medians over rounds of (target − direct) for p50/p90/p99/p99.9 plus the medians of the rest. */
export function tailTable(rounds: readonly TailRound[], names: readonly string[], pacers: readonly Pacer[]): string {
  const lines = ['| pacer | target | p50 | p99 | p99.9 | added p50 | added p90 | added p99 | added p99.9 | >1 ms % | CPU µs/req | primary µs/req | GC max ms | scavenges/s | proxy runqueue wait µs/req | loader runqueue wait µs/req | foreign CPU (max) |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const f = (x: number | null | undefined, d = 3): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
  const notes: string[] = [];
  for (const pacer of pacers) {
    // a round counts when every measurement in it was quiet; when none was, every round counts (and the note says so)
    const all = [...new Set(rounds.filter((r) => r.pacer === pacer).map((r) => r.round))];
    const quiet = all.filter((i) => rounds.every((r) => r.pacer !== pacer || r.round !== i || (r.foreignCores ?? 0) <= FOREIGN_CPU_LIMIT));
    const used = new Set(quiet.length > 0 ? quiet : all);
    notes.push(`${pacer}: ${quiet.length > 0 ? `${quiet.length} of ${all.length} rounds quiet (foreign CPU ≤ ${FOREIGN_CPU_LIMIT} in every measurement), only those used` : `no quiet round of ${all.length}: every round used — NOT a quiet run`}`);
    const direct = rounds.filter((r) => r.pacer === pacer && r.target === 'direct' && used.has(r.round));
    for (const name of names) {
      const rs = rounds.filter((r) => r.pacer === pacer && r.target === name && used.has(r.round));
      if (rs.length === 0) continue;
      const added = (k: 'p50' | 'p90' | 'p99' | 'p999'): number => median(rs.map((r) => r[k] - (direct.find((d) => d.round === r.round)?.[k] ?? Number.NaN)).filter(Number.isFinite));
      const m = (g: (r: TailRound) => number | null): number | null => { const xs = rs.map(g).filter((x): x is number => x !== null && x >= 0); return xs.length === 0 ? null : median(xs); };
      lines.push(`| ${pacer} | ${name} | ${f(m((r) => r.p50))} | ${f(m((r) => r.p99))} | ${f(m((r) => r.p999))} | ${name === 'direct' ? '—' : f(added('p50'))} | ${name === 'direct' ? '—' : f(added('p90'))} | ${name === 'direct' ? '—' : f(added('p99'))} | ${name === 'direct' ? '—' : f(added('p999'))} | ${f(m((r) => r.over1ms * 100), 2)} | ${f(m((r) => r.cpuUsPerReq), 0)} | ${f(m((r) => r.primaryUsPerReq), 1)} | ${f(m((r) => (r.gc.length === 0 ? null : Math.max(...r.gc.map((g) => g.maxMs)))), 2)} | ${f(m((r) => (r.gc.length === 0 ? null : r.gc.reduce((x, g) => x + g.minorCount, 0) / (r.requests / r.rps))), 2)} | ${f(m((r) => r.proxyWaitUs), 1)} | ${f(m((r) => r.loaderWaitUs), 1)} | ${f(Math.max(...rs.map((r) => r.foreignCores ?? 0)), 2)} |`);
    }
  }
  return ['**Fixed 2000 rps, one warm token** — ms; added = median over rounds of (target − direct in the same round and pacer); runqueue wait from /proc/<pid>/task/*/schedstat (Node: the main threads of every process; HAProxy: every thread).', '', ...lines, '', ...notes.map((n) => `* ${n}`)].join('\n');
}
