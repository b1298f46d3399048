// Scenario tail-pair (issue 13's "added p99 ≤ 1 ms over direct"): the target under test and the
// upstream direct are measured at the same time by one paced loader, so a host hiccup lands in both
// streams; per 100 ms window proxy p99 − direct p99, folded over windows. Targets on the peer terms:
// Portcullis `workers: 2`, HAProxy nbthread 2, nginx-cached, each with a warm RS256 token and passthrough.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { cpuPlanSpread } from './cpu-plan.js';
import { HAPROXY_FORWARDFOR_ENV, startHaproxy } from './haproxy.js';
import { startNginxAuth } from './nginx.js';
import { compiledRoot } from './paths.js';
import { cpuSeconds, pinPid, pinSelf, processTree, watchForeignCpu } from './processes.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { median } from './stats.js';
import { runPairLoad, type PairLoadFlags, type PairLoadResult } from './tail-pair-load.js';
import { runPairLoadInChild } from './tail-pair-loader-process.js';
import { overCauses, pairSummary, quantileSorted, summariseDiffs, windowsTouched, type PairSummary } from './tail-pair-stats.js';
import { parseGcPauses } from './gc-pause-preload.js';
import { gcWindow, type TailRound } from './tail-peer.bench.js';
import { passthroughConfigYaml, startPortcullis, startUpstreamProcess } from './targets.js';
import { haproxyJwtChecks, jwtRefusalProbes, publicKeyPem, refusalsMissed, startAuthServerProcess, startJwtValidatorProcess, tempFile, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';

export const PAIR_TARGETS_ENV = 'PORTCULLIS_BENCH_PAIR_TARGETS';
/** `direct` is the A/A control: the target stream goes to the upstream too (its own pool), so its windowed difference is the method's null. */
export const PAIR_TARGETS = ['direct', 'pc-jwt', 'hap-jwt', 'nginx-cached', 'pc-pass', 'hap-pass', 'pcflags-jwt'] as const;
export type PairTarget = (typeof PAIR_TARGETS)[number];
/** Without $PORTCULLIS_BENCH_PAIR_TARGETS: every target but `pcflags-jwt` (it needs PAIR_NODE_ARGS_ENV). */
export const PAIR_DEFAULT_TARGETS: readonly PairTarget[] = PAIR_TARGETS.filter((n) => n !== 'pcflags-jwt');
/** Node/V8 flags of row `pcflags-jwt` — pc-jwt, same build, started `node <flags> …/main.js` (e.g. `--single-threaded-gc`): a flag A/B in the same pacer turns. */
export const PAIR_NODE_ARGS_ENV = 'PORTCULLIS_BENCH_PAIR_NODE_ARGS';
/** Rates, window and thresholds of the paired measurement. */
export const PAIR_RATE = 2000;
export const PAIR_PROBE_RATE = 500;
export const PAIR_WINDOW_MS = 100;
export const PAIR_LOADER_LIMIT_MS = 0.5;
/** GC pauses at least this long mark the windows they touch. */
export const PAIR_GC_MIN_MS = 0.5;
/** With the loader in this process (LOADER_PROCESS=0), `=1` pins only its main thread to CPU 0, V8's GC helpers free; default: every thread (not shown to pay, 2026-12-04 entry). */
export const PAIR_PIN_MAIN_ENV = 'PORTCULLIS_BENCH_PAIR_PIN_MAIN';
export const PAIR_GAPLOG_ENV = 'PORTCULLIS_BENCH_PAIR_GAPLOG';
/** Default: the paced loader runs in a forked child of its own (its heap alone: marking steps ≤ 8 ms instead of 7–29 ms: RESULTS.md 2026-12-04 13:35–14:15); `=0`: in this process. */
export const PAIR_LOADER_PROCESS_ENV = 'PORTCULLIS_BENCH_PAIR_LOADER_PROCESS';
/** `=1`: no full collection of the loader's heap between warm-up and measurement (the method before 2026-12-04 14:05). */
export const PAIR_NO_GC_ENV = 'PORTCULLIS_BENCH_PAIR_NO_GC';
/** A window whose target threads waited this long in total for a CPU counts as "runqueue" in the causes. */
export const PAIR_RUNQ_MS = 1;

/** Pure: targets from $PORTCULLIS_BENCH_PAIR_TARGETS (comma-separated, default all; `direct` always first); throws on an unknown name. */
export function pairTargets(env: string | undefined): PairTarget[] {
  const names = env === undefined || env.trim() === '' ? [...PAIR_DEFAULT_TARGETS] : env.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (!(PAIR_TARGETS as readonly string[]).includes(n)) throw new Error(`${PAIR_TARGETS_ENV}: "${n}" is not one of ${PAIR_TARGETS.join(', ')}`);
  const out = names as PairTarget[];
  return out.includes('direct') ? ['direct', ...out.filter((n) => n !== 'direct')] : ['direct', ...out];
}

/** Pure: the flags of row `pcflags-jwt` from $PORTCULLIS_BENCH_PAIR_NODE_ARGS (whitespace-separated); throws when the row is asked for without any, or a word is not a flag. */
export function pairNodeArgs(env: string | undefined, names: readonly PairTarget[]): string[] {
  if (!names.includes('pcflags-jwt')) return [];
  const args = (env ?? '').split(/\s+/).filter((a) => a !== '');
  if (args.length === 0) throw new Error(`pcflags-jwt: set ${PAIR_NODE_ARGS_ENV} to the node flags it runs with (e.g. --single-threaded-gc)`);
  for (const a of args) if (!a.startsWith('--')) throw new Error(`${PAIR_NODE_ARGS_ENV}: "${a}" is not a --flag`);
  return args;
}

/** One round of one target: the paired summary, the window differences, the proxy's CPU and GC, the foreign CPU. */
export interface PairRound {
  target: PairTarget;
  round: number;
  summary: PairSummary;
  /** Per-window proxy p99 − direct p99, ms, and whether the loader was late in that window. */
  windowDiffs: number[];
  windowClean: boolean[];
  /** Per window: a GC pause ≥ PAIR_GC_MIN_MS in any of the target's processes touched it (Portcullis only; false elsewhere). */
  windowGc: boolean[];
  /** Per window: runqueue wait of the target's request threads (each process's main thread; HAProxy: every thread), summed, ms (empty for the A/A control). */
  windowWaitMs: number[];
  proxyErrors: number; proxyNon2xx: number; directErrors: number; directNon2xx: number;
  rps: number;
  /** CPU µs per response of the target's process tree (null for the A/A control). */
  cpuUsPerReq: number | null;
  /** Per process of the tree (root first, e.g. primary then workers), its own CPU µs per target response: how the load spread. */
  cpuUsPerReqByProcess: number[];
  loaderCores: number;
  foreignCores: number | null;
  /** GC pauses per Portcullis process in the window: the busiest first. */
  gc: TailRound['gc'];
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };
const f = (x: number | null | undefined, d = 3): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));

/** Pure: one line per target — medians over rounds of each run's figures, and the windows of every round pooled. */
export function pairTable(rounds: readonly PairRound[], names: readonly string[]): string {
  const lines = [
    '| target | p50 | p99 | p99.9 | direct p99 (same run) | added p99 (run) | added p99.9 (run) | window Δp99 median | window Δp99 p90 | windows Δ > 1 ms | same, loader on time: median / p90 / > 1 ms | windows | loader late windows | loader max gap ms | windows Δ > 1 ms: GC pause / runqueue / loader late / neither | target runqueue wait ms per window: median / p90 | CPU µs/req | GC max ms | foreign CPU (max) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|---:|---:|---:|',
  ];
  for (const name of names) {
    const rs = rounds.filter((r) => r.target === name);
    if (rs.length === 0) continue;
    const m = (g: (r: PairRound) => number | null): number | null => { const xs = rs.map(g).filter((x): x is number => x !== null && Number.isFinite(x)); return xs.length === 0 ? null : median(xs); };
    const all = summariseDiffs(rs.flatMap((r) => r.windowDiffs));
    const clean = summariseDiffs(rs.flatMap((r) => r.windowDiffs.filter((_, i) => r.windowClean[i])));
    const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '—');
    const gcMax = m((r) => (r.gc.length === 0 ? null : Math.max(...r.gc.map((g) => g.maxMs))));
    const causes = overCauses(rs.flatMap((r) => r.windowDiffs), rs.flatMap((r) => r.windowGc), rs.flatMap((r) => r.windowWaitMs.map((w) => w >= PAIR_RUNQ_MS)), rs.flatMap((r) => r.windowClean.map((c) => !c)));
    const waits = rs.flatMap((r) => r.windowWaitMs).sort((a, b) => a - b);
    lines.push(`| ${name} | ${f(m((r) => r.summary.proxy.p50))} | ${f(m((r) => r.summary.proxy.p99))} | ${f(m((r) => r.summary.proxy.p999))} | ${f(m((r) => r.summary.direct.p99))} | ${f(m((r) => r.summary.added.p99))} | ${f(m((r) => r.summary.added.p999))} | **${f(all.median)}** | **${f(all.p90)}** | **${pct(all.overShare)}** | ${f(clean.median)} / ${f(clean.p90)} / ${pct(clean.overShare)} | ${all.windows} | ${pct(1 - clean.windows / Math.max(1, all.windows))} | ${f(Math.max(...rs.map((r) => r.summary.loaderMaxGapMs)), 2)} | ${causes.withGc} / ${causes.runqueue} / ${causes.loaderLate} / ${causes.neither} | ${waits.length === 0 ? '—' : `${f(median(waits), 2)} / ${f(quantileSorted(waits, 90), 2)}`} | ${f(m((r) => r.cpuUsPerReq), 0)} | ${f(gcMax, 2)} | ${f(Math.max(...rs.map((r) => r.foreignCores ?? 0)), 2)} |`);
  }
  return [
    `**Paired fixed rate** — ${PAIR_RATE} rps to the target and, in the same pacer turns, ${PAIR_PROBE_RATE} rps straight to the same upstream (own connections, same request); ms from the scheduled send. Run columns: median over rounds. Window columns: every ${PAIR_WINDOW_MS} ms window of every round pooled, Δp99 = target p99 − direct p99 in that window; "loader on time" drops the windows where the loader's gap between pacer turns or a send's lag exceeded ${PAIR_LOADER_LIMIT_MS} ms. \`direct\` is the A/A control (both streams to the upstream): its window Δ is the method's null. Causes of the windows over 1 ms: a GC pause ≥ ${PAIR_GC_MIN_MS} ms in one of the target's processes touched the window (Portcullis: gc-pause-preload), else the target's request threads (the main thread of each of its processes — Portcullis primary and workers, nginx master and workers; HAProxy: every thread; /proc schedstat read at each window's first pacer turn) waited ≥ ${PAIR_RUNQ_MS} ms in total for a CPU in the window, else the loader was late there, else neither.`,
    '', ...lines,
  ].join('\n');
}

/** The GC pauses of the last preload window of each process in `tree`, as [ms since `startEpochMs`, duration]. */
function gcPausesRel(output: string, tree: readonly number[], startEpochMs: number): Array<[number, number]> {
  const mine = new Set(tree);
  const last = new Map(parseGcPauses(output).filter((g) => mine.has(g.pid)).map((g) => [g.pid, g]));
  return [...last.values()].flatMap((g) => (g.pauses ?? []).map(([at, dur]): [number, number] => [at - startEpochMs, dur]));
}

/** Run the scenario; every process it starts is stopped on the way out. */
export async function tailPair(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlanSpread(availableParallelism());
  const names = pairTargets(process.env[PAIR_TARGETS_ENV]);
  const nodeArgs = pairNodeArgs(process.env[PAIR_NODE_ARGS_ENV], names);
  const workers = plan.proxy.length;
  // matched work by default (the peer terms): every proxy appends X-Forwarded-For; =0 turns the peers' copy off
  const forwardfor = process.env[HAPROXY_FORWARDFOR_ENV] !== '0';
  const stops: Array<() => Promise<void> | void> = [];
  const skipped: Record<string, string> = {};
  const peers: Record<string, string> = {};
  let restore = (): void => {};
  const gcOut = new Map<string, () => string>();
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token] = await as.mint({ kind: 'jwt', alg: opts.jwtAlg, count: 1 });
    pinPid(as.process.pid, plan.loader);
    // every thread by default; =1 leaves V8's concurrent markers free to run beside a pacer that spins (an A/B knob, see RESULTS.md)
    const pinMain = process.env[PAIR_PIN_MAIN_ENV] === '1';
    restore = pinSelf(plan.loader, pinMain);
    const headers = { authorization: `Bearer ${token}` };
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const { env } = tokenConfigEnv();
    const preload = { NODE_OPTIONS: `--import ${join(compiledRoot(), 'bench', 'gc-pause-preload.js')}`, PORTCULLIS_BENCH_GC_PRELOAD: '1' };
    const live: Array<{ name: PairTarget; url: string; pid: number; portcullis: boolean }> = [];
    const extraPids: number[] = [as.process.pid, upstream.process.pid];
    const pem = tempFile(`${opts.jwtAlg}.pem`, await publicKeyPem(as.jwksUri, opts.jwtAlg));
    stops.push(() => pem.cleanup());
    for (const name of names) {
      if (name === 'direct') { live.push({ name, url: upstream.url, pid: upstream.process.pid, portcullis: false }); continue; }
      if (name === 'pc-jwt' || name === 'pc-pass' || name === 'pcflags-jwt') {
        const yaml = name !== 'pc-pass'
          ? tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [opts.jwtAlg], poolSize: 1, cacheEntries: 100_000, workers })
          : passthroughConfigYaml(upstream.port).replace('workers: 1', `workers: ${workers}`);
        const pc = await startPortcullis(yaml, plan.proxy, { ...env, ...preload }, undefined, name === 'pcflags-jwt' ? nodeArgs : []);
        stops.push(() => pc.stop());
        gcOut.set(name, () => pc.process.output());
        live.push({ name, url: pc.url, pid: pc.process.pid, portcullis: true });
      } else if (name === 'hap-jwt' || name === 'hap-pass') {
        const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: workers, cpus: plan.proxy, forwardfor, ...(name === 'hap-jwt' ? { jwt: haproxyJwtChecks(pem.path, opts.jwtAlg, as.issuer, true) } : {}) });
        if (hp.skipped) { skipped[name] = hp.reason; continue; }
        stops.push(() => hp.stop());
        peers.haproxy = hp.version;
        live.push({ name, url: hp.url, pid: hp.process.pid, portcullis: false });
      } else {
        const { process: validator, port } = await startJwtValidatorProcess(as, opts.jwtAlg, plan.proxy);
        stops.push(() => validator.stop());
        extraPids.push(validator.pid);
        const ngc = await startNginxAuth({ upstreamPort: upstream.port, authPort: port, authPath: '/verify', cacheTtlS: 3600, workers, forwardfor }, plan.proxy);
        if ('skipped' in ngc) { skipped[name] = ngc.skipped; continue; }
        stops.push(() => ngc.stop());
        live.push({ name, url: ngc.url, pid: ngc.process.pid, portcullis: false });
      }
    }
    // a token target that let a bad token through would be measured doing less than it claims
    const probes = await jwtRefusalProbes(as, opts.jwtAlg, token!);
    for (const t of live) {
      await waitUntilServing(t.name, t.url + '/', headers);
      if (!t.name.endsWith('-jwt') && t.name !== 'nginx-cached') continue;
      const missed = await refusalsMissed(t.url + '/', probes);
      if (missed.length > 0) throw new Error(`${t.name} did not refuse bad tokens as expected: ${missed.join('; ')}`);
    }
    const ownPids = [...new Set([...live.map((t) => t.pid), ...extraPids])];
    const flags: PairLoadFlags = { rate: PAIR_RATE, probeRate: PAIR_PROBE_RATE, connections: 50, probeConnections: 50, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 2, windowMs: PAIR_WINDOW_MS, path: '/', headers, gcBeforeMeasure: process.env[PAIR_NO_GC_ENV] !== '1', ...(process.env[PAIR_GAPLOG_ENV] !== undefined ? { gapLogMs: Number(process.env[PAIR_GAPLOG_ENV]) } : {}) };
    const inChild = process.env[PAIR_LOADER_PROCESS_ENV] !== '0';
    const load = (url: string, fl: PairLoadFlags, before: (loaderPid?: number) => Promise<void>): Promise<PairLoadResult> =>
      (inChild ? runPairLoadInChild(url, upstream.url, fl, plan.loader, before) : runPairLoad(url, upstream.url, fl, () => before()));
    const rounds: PairRound[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      const order = live.map((_, i) => live[(i + round) % live.length]!);
      for (const t of order) {
        // warm-up in the same pools, then the counters start: CPU, foreign CPU, the GC window of the preload
        const tree = processTree(t.pid);
        let c0: number | undefined;
        // own CPU of each process of the tree: a process's cpuSeconds includes its descendants, so take theirs off
        const own = (): number[] => { const all = tree.map((p) => cpuSeconds(p) ?? 0); return all.map((c, i) => (i === 0 ? c - all.slice(1).reduce((x, y) => x + y, 0) : c)); };
        let p0: number[] = [];
        let foreign: () => number | undefined = () => undefined;
        const r = await load(t.url, { ...flags, schedPids: t.name === 'direct' ? [] : tree, schedAllThreads: t.name.startsWith('hap-') }, async (loaderPid?: number) => {
          if (t.portcullis) await gcWindow(null, tree);
          c0 = t.name === 'direct' ? undefined : cpuSeconds(t.pid);
          p0 = t.name === 'direct' ? [] : own();
          // a loader in a child process is ours too
          foreign = watchForeignCpu(loaderPid === undefined ? ownPids : [...ownPids, loaderPid]);
        });
        const fc = foreign() ?? null;
        const c1 = t.name === 'direct' ? undefined : cpuSeconds(t.pid);
        const p1 = t.name === 'direct' ? [] : own();
        const gc = t.portcullis ? await gcWindow(gcOut.get(t.name)!, tree) : [];
        const { summary, windows } = pairSummary(r.proxy, r.direct, r.loader, { windowMs: PAIR_WINDOW_MS, loaderLimitMs: PAIR_LOADER_LIMIT_MS });
        const gcHit = t.portcullis ? windowsTouched(gcPausesRel(gcOut.get(t.name)!(), tree, r.startEpochMs), PAIR_WINDOW_MS, PAIR_GC_MIN_MS) : new Set<number>();
        const waitOf = new Map(r.targetWaitMs.map((x) => [x.index, x.waitMs]));
        const late = new Set(r.loader.filter((w) => w.maxGapMs > PAIR_LOADER_LIMIT_MS || w.maxLagMs > PAIR_LOADER_LIMIT_MS).map((w) => w.index));
        const row: PairRound = {
          target: t.name, round, summary,
          windowDiffs: windows.map((w) => Math.round(w.diff * 1000) / 1000), windowClean: windows.map((w) => !late.has(w.index)), windowGc: windows.map((w) => gcHit.has(w.index)),
          windowWaitMs: waitOf.size === 0 ? [] : windows.map((w) => Math.round((waitOf.get(w.index) ?? 0) * 100) / 100),
          proxyErrors: r.proxy.errors, proxyNon2xx: r.proxy.non2xx, directErrors: r.direct.errors, directNon2xx: r.direct.non2xx,
          rps: r.proxy.latMs.length / r.elapsedS,
          cpuUsPerReq: c0 !== undefined && c1 !== undefined ? ((c1 - c0) * 1e6) / Math.max(1, r.proxy.latMs.length) : null,
          cpuUsPerReqByProcess: p1.map((c, i) => Math.round(((c - p0[i]!) * 1e6) / Math.max(1, r.proxy.latMs.length) * 10) / 10),
          loaderCores: r.loaderCores, foreignCores: fc, gc,
        };
        rounds.push(row);
        if (flags.gapLogMs !== undefined) say(`    measured ${r.spanMs[0].toFixed(1)}–${r.spanMs[1].toFixed(1)} ms (performance.now of loader pid ${r.loaderPid})`);
        for (const g of r.longGaps) say(`    pacer gap ${g.gapMs.toFixed(2)} ms ended at ${g.endMs.toFixed(1)} ms (loader's performance.now)`);
        const w = summary.windowed;
        say(`  r${round + 1} ${t.name.padEnd(12)} p50 ${f(summary.proxy.p50)} p99 ${f(summary.proxy.p99)} p99.9 ${f(summary.proxy.p999)} | direct p99 ${f(summary.direct.p99)} | added p99 ${f(summary.added.p99)} | window Δp99 med ${f(w.median)} p90 ${f(w.p90)} >1ms ${(w.overShare * 100).toFixed(1)}% of ${w.windows} | loader late ${(summary.loaderDirtyShare * 100).toFixed(0)}% gap ${f(summary.loaderMaxGapMs, 2)} | cpu ${f(row.cpuUsPerReq, 0)} (${row.cpuUsPerReqByProcess.map((c) => c.toFixed(0)).join('/')}) gc ${gc.map((g) => `${g.minorCount}/${g.maxMs.toFixed(1)}`).join(',')} (windows ${row.windowGc.filter(Boolean).length}) | err ${row.proxyErrors + row.proxyNon2xx}/${row.directErrors + row.directNon2xx} | loader ${r.loaderCores.toFixed(2)} foreign ${f(fc, 2)}`);
      }
    }
    const bad = rounds.filter((r) => r.proxyErrors + r.proxyNon2xx + r.directErrors + r.directNon2xx > 0);
    const warnings = [
      ...(bad.length > 0 ? [`errors or non-2xx in ${bad.length} measurements (${bad.map((r) => `${r.target} r${r.round + 1}`).join(', ')})`] : []),
      ...(rounds.some((r) => (r.foreignCores ?? 0) > 0.1) ? ['foreign CPU > 0.1 in some measurements: the paired window columns are the figures; the per-run columns are not'] : []),
    ];
    return {
      scenario: 'tail-pair', quick: opts.quick,
      flags: { rate: PAIR_RATE, probeRate: PAIR_PROBE_RATE, connections: 50, probeConnections: 50, windowMs: PAIR_WINDOW_MS, windowQuantile: 99, minSamplesPerStreamPerWindow: 10, loaderLimitMs: PAIR_LOADER_LIMIT_MS, pacer: 'spin (setImmediate), one turn sends both streams', loaderPinned: pinMain ? 'main thread only' : 'every thread', loaderGcBeforeMeasure: flags.gcBeforeMeasure, loaderProcess: inChild ? 'own child' : 'the bench process', durationS: opts.durationS, warmupS: flags.warmupS, alg: opts.jwtAlg, rounds: opts.rounds, order: 'rotated each round', workers, forwardfor, targets: names },
      cpuPlan: plan, peers, skipped, rounds, summary: null, warnings, table: pairTable(rounds, live.map((t) => t.name)),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restore();
  }
}
