// Scenario `build-compare`: this build against another build of Portcullis (a checkout of an
// earlier commit, built) in the SAME rounds, each next to HAProxy. On a shared machine only
// ratios measured minutes apart mean anything, so before/after of a change is measured here:
// passthrough (auth: none) and jwt-warm (one RS256 token, cache hits), closed loop, targets
// rotated every round (before, after, haproxy, direct, then the next order), quiet gate as in
// jwt-warm. The other build: PORTCULLIS_BENCH_BASELINE=<checkout root> (its dist/ built).
// Both Portcullis processes carry heap-alloc-preload: V8 heap bytes allocated per response, a
// figure other processes' load does not move.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { cpuPlan, cpuPlanSpread } from './cpu-plan.js';
import { compiledRoot } from './paths.js';
import { HAPROXY_FORWARDFOR_ENV, haproxyForwardforFromEnv, startHaproxy } from './haproxy.js';
import { DEFAULT_LOAD_FLAGS, type LoadFlags } from './load.js';
import { hasTaskset, pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { closedLoopRounds, foldRounds, quietGate, ratioBasis, ratioTable, rpsRatio, sideBySideWarnings, throughputTable, type LoadTarget, type RatioRow, type RoundResults } from './side-by-side.js';
import { median, type LoadSummary } from './stats.js';
import { runAmount } from './load.js';
import { requireWrk, WRK_THREADS } from './wrk-load.js';
import { countSyscalls, type SyscallCount } from './syscall-count.js';
import { passthroughConfigYaml, probe, startPortcullis, startUpstreamProcess } from './targets.js';
import { haproxyJwtChecks, publicKeyPem, startAuthServerProcess, tempFile, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';

export const BASELINE_ENV = 'PORTCULLIS_BENCH_BASELINE';
/** `append|keep|off`: this build's `server.forwarded.x_forwarded_for` (the baseline keeps its default: an older build refuses the key). */
export const XFF_ENV = 'PORTCULLIS_BENCH_XFF';

/** Pure: a bench config (its `  workers: N` server line) with `server.forwarded.x_forwarded_for` set; unchanged for undefined/''. Throws on another value. */
export function withXffMode(yaml: string, mode: string | undefined): string {
  if (mode === undefined || mode === '') return yaml;
  if (mode !== 'append' && mode !== 'keep' && mode !== 'off') throw new Error(`${XFF_ENV}: append, keep or off, not ${JSON.stringify(mode)}`);
  const trust = mode === 'keep' ? '  trust_forwarded: true\n' : '';
  const line = /\n {2}workers: \d+\n/.exec(yaml);
  if (line === null) throw new Error('bench config without a "  workers: N" server line');
  return yaml.replace(line[0], `${line[0]}${trust}  forwarded: { x_forwarded_for: ${mode} }\n`);
}
/**
 * `1`: the peer harness's terms (issue 13) — both Portcullis builds `serve` with `workers: 2`, HAProxy
 * `nbthread 2`, every proxy allowed both CPUs (loader pinned to CPU 0, upstream to the last CPU: cpuPlanSpread),
 * 64 connections; CPU µs/req and syscalls/req over every process of the proxy (primary + workers).
 */
export const PEER_TERMS_ENV = 'PORTCULLIS_BENCH_PEER_TERMS';
/** Connections of the closed loop on the peer harness's terms (wrk -c64 in issue 13). */
export const PEER_CONNECTIONS = 64;
/** Workers (Portcullis) and threads (HAProxy) on the peer harness's terms. */
export const PEER_WORKERS = 2;

/** `wrk`: the closed loop runs wrk -t2 (bench/wrk-load.ts) instead of autocannon — the issue's harness; a Node loader limits before two proxy processes do. */
export const LOADER_ENV = 'PORTCULLIS_BENCH_LOADER';

/** Pure: the closed-loop loader $PORTCULLIS_BENCH_LOADER names ('' / unset: autocannon). Throws on another value. */
export function loaderFromEnv(env: NodeJS.ProcessEnv = process.env): 'autocannon' | 'wrk' {
  const v = env[LOADER_ENV] ?? '';
  if (v === '' || v === 'autocannon') return 'autocannon';
  if (v === 'wrk') return 'wrk';
  throw new Error(`${LOADER_ENV}: autocannon or wrk, not ${JSON.stringify(v)}`);
}

/** Pure: whether $PORTCULLIS_BENCH_PEER_TERMS asks for the peer terms ('' / unset / '0': no). Throws on another value. */
export function peerTermsFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[PEER_TERMS_ENV] ?? '';
  if (v !== '' && v !== '0' && v !== '1') throw new Error(`${PEER_TERMS_ENV}: 1 or 0, not ${JSON.stringify(v)}`);
  return v === '1';
}

/** Pure: a bench config (its `  workers: 1` server line) with `workers: n`; unchanged for n = 1. Throws without that line. */
export function withWorkers(yaml: string, n: number): string {
  if (n === 1) return yaml;
  if (!yaml.includes('\n  workers: 1\n')) throw new Error('bench config without a "  workers: 1" server line');
  return yaml.replace('\n  workers: 1\n', `\n  workers: ${n}\n`);
}
/** `N` ≥ 1: this build's `upstreams.app.pipelining` (HTTP/1.1 pipelining to the bench upstream; the baseline, nginx and HAProxy unchanged). */
export const PIPELINING_ENV = 'PORTCULLIS_BENCH_PIPELINING';

/** Pure: a bench config with `pipelining: N` on its (one) upstream; unchanged for undefined/''. Throws on a value that is not an integer 1–64. */
export function withPipelining(yaml: string, n: string | undefined): string {
  if (n === undefined || n === '') return yaml;
  if (!/^[1-9][0-9]?$/.test(n) || Number(n) > 64) throw new Error(`${PIPELINING_ENV}: an integer 1–64, not ${JSON.stringify(n)}`);
  const m = /\n    targets: \[[^\n]*\]\n/.exec(yaml);
  if (m === null) throw new Error('bench config without a "    targets: [...]" upstream line');
  return yaml.replace(m[0], `${m[0]}    pipelining: ${n}\n`);
}
export const COMPARE_TARGETS = ['direct', 'baseline', 'portcullis', 'haproxy'] as const;
export const COMPARE_PHASES = ['passthrough', 'jwt-warm'] as const;

/** The other build's CLI from $PORTCULLIS_BENCH_BASELINE; throws naming what is missing. */
export function baselineCli(env: NodeJS.ProcessEnv = process.env): string {
  const root = env[BASELINE_ENV];
  if (root === undefined || root === '') throw new Error(`build-compare needs ${BASELINE_ENV}=<root of another built checkout> (e.g. git worktree add --detach ../before <commit> && cd ../before && npx tsc -p tsconfig.json)`);
  const cli = join(root, 'dist', 'cluster', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${BASELINE_ENV}: ${cli} not found (build that checkout first)`);
  return cli;
}

export interface PhaseSummary {
  throughput: Record<string, LoadSummary>;
  ratios: RatioRow[];
  /** Median over rounds of (baseline − portcullis) CPU µs/req: what this build saves per request. */
  cpuSavedUs: number | null;
  /** Median over rounds of V8 heap bytes allocated per response, each build. */
  heapBytes: { baseline: number | null; portcullis: number | null };
}

/** Pure: median of per-round (a − b) CPU µs/req; null when a round lacks a sample. */
export function pairedCpuDiff(m: RoundResults, a: string, b: string): number | null {
  const x = m[a], y = m[b];
  if (x === undefined || y === undefined || x.length === 0 || x.length !== y.length) return null;
  const d: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!.cpuUsPerReq, v = y[i]!.cpuUsPerReq;
    if (u === undefined || v === undefined) return null;
    d.push(u - v);
  }
  return median(d);
}

/** Pure: one phase's rounds folded. */
export function summarisePhase(closed: RoundResults): PhaseSummary {
  const pairs = [['portcullis', 'haproxy'], ['baseline', 'haproxy'], ['portcullis', 'baseline']] as const;
  return {
    throughput: foldRounds(closed),
    ratios: pairs.map(([a, b]) => [`${a} / ${b}`, rpsRatio(closed, a, b), ratioBasis(closed, a, b)] as const),
    cpuSavedUs: pairedCpuDiff(closed, 'baseline', 'portcullis'),
    heapBytes: { baseline: heapMedian(closed, 'baseline'), portcullis: heapMedian(closed, 'portcullis') },
  };
}

function heapMedian(m: RoundResults, t: string): number | null {
  const xs = (m[t] ?? []).map((r) => r.heapBytesPerReq).filter((x): x is number => x !== undefined);
  return xs.length === 0 ? null : median(xs);
}

/** Pure: per-round lines (rps and CPU of each target), so disturbed rounds can be read apart. */
export function roundsTable(closed: RoundResults): string {
  const n = Math.max(0, ...Object.values(closed).map((r) => r.length));
  const rows: string[][] = [];
  for (let i = 0; i < n; i++) {
    rows.push([String(i + 1), ...COMPARE_TARGETS.map((t) => {
      const r = closed[t]?.[i];
      return r === undefined ? '' : `${cell(r.rps, 0)} · ${cell(r.cpuUsPerReq, 1)} µs${r.heapBytesPerReq !== undefined ? ` · ${cell(r.heapBytesPerReq, 0)} B` : ''} · ${cell(r.foreignCores)}`;
    })]);
  }
  return markdownTable(['round', ...COMPARE_TARGETS.map((t) => `${t}: rps · CPU/req · [heap/req ·] foreign`)], rows, [false, true, true, true, true]);
}

/** Requests per syscall count (each target, after the rounds, strace attached). */
export const SYSCALL_REQUESTS = 3000;

/** Pure: syscalls per request of each target (a skip reason where strace could not count). */
export function syscallTable(counts: Record<string, SyscallCount | string>): string {
  const rows = Object.entries(counts).map(([name, c]) => typeof c === 'string'
    ? [name, '—', `skipped: ${c}`, '—']
    : [name, cell(c.perRequest, 2), Object.entries(c.bySyscall).map(([k, v]) => `${k} ${v}`).join(', '), `${c.setUp.accepts} · ${c.setUp.connects}`]);
  return markdownTable([`target (strace -c, ${SYSCALL_REQUESTS} requests)`, 'syscalls / request', 'by syscall (≥ 0.05 / request)', 'set up in the count: accept · connect calls'], rows, [false, true, false, true]);
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run both phases; every process is stopped on the way out. */
export async function buildCompare(opts: ScenarioOptions): Promise<ScenarioReport> {
  const baseline = baselineCli();
  const xff = process.env[XFF_ENV] ?? '';
  withXffMode('\n  workers: 1\n', xff); // a bad value fails before anything starts
  const pipelining = process.env[PIPELINING_ENV] ?? '';
  withPipelining('\n    targets: []\n', pipelining);
  const peer = peerTermsFromEnv();
  const workers = peer ? PEER_WORKERS : 1;
  const plan = peer ? cpuPlanSpread(availableParallelism()) : cpuPlan(availableParallelism());
  const loader = loaderFromEnv();
  if (loader === 'wrk') requireWrk();
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1, ...(peer ? { connections: PEER_CONNECTIONS } : {}), ...(loader === 'wrk' ? { loader } : {}) };
  const stops: Array<() => Promise<void> | void> = [];
  const restoreAffinity = pinSelf(plan.loader);
  const phases: Record<string, { closed: RoundResults; summary: PhaseSummary; syscalls: Record<string, SyscallCount | string> }> = {};
  const peers: Record<string, string> = {};
  const gate = quietGate(opts.quick ? 5 : 120);
  try {
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token] = await as.mint({ kind: 'jwt', alg: 'RS256', count: 1 });
    pinPid(as.process.pid, plan.loader);
    const pem = tempFile('RS256.pem', await publicKeyPem(as.jwksUri, 'RS256'));
    stops.push(() => pem.cleanup());
    const { env: tokenEnv } = tokenConfigEnv();
    const preload = join(compiledRoot(), 'bench', 'heap-alloc-preload.js');
    const env = { ...tokenEnv, PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim() };
    for (const phase of COMPARE_PHASES) {
      const jwt = phase === 'jwt-warm';
      const headers: Record<string, string> = jwt ? { authorization: `Bearer ${token!}` } : {};
      const yaml = jwt ? tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['RS256'], poolSize: 1, cacheEntries: 100_000 }) : passthroughConfigYaml(upstream.port);
      const phaseStops: Array<() => Promise<void>> = [];
      const live: LoadTarget[] = [{ name: 'direct', url: upstream.url, pid: upstream.process.pid, headers }];
      for (const [name, cli] of [['baseline', baseline], ['portcullis', undefined]] as const) {
        const pc = await startPortcullis(withWorkers(cli === undefined ? withPipelining(withXffMode(yaml, xff), pipelining) : yaml, workers), plan.proxy, env, cli);
        phaseStops.push(() => pc.stop());
        // with workers the primary serves no request: heap per response is measured on the workers-1 terms only
        live.push({ name, url: pc.url, pid: pc.process.pid, headers, ...(peer ? {} : { heapAlloc: pc.process }) });
      }
      const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: peer ? PEER_WORKERS : plan.proxy.length, cpus: plan.proxy, forwardfor: haproxyForwardforFromEnv(), ...(jwt ? { jwt: haproxyJwtChecks(pem.path, 'RS256', as.issuer, true) } : {}) });
      if (hp.skipped) throw new Error(`build-compare needs HAProxy: ${hp.reason}`);
      phaseStops.push(() => hp.stop());
      peers.haproxy = hp.version;
      live.push({ name: 'haproxy', url: hp.url, pid: hp.process.pid, headers });
      try {
        for (const t of live) {
          if (jwt) await waitUntilServing(t.name, t.url + load.path, headers);
          else if ((await probe(t.url + load.path)).status !== 200) throw new Error(`${t.name} does not answer 200 at ${t.url}`);
        }
        say(`\n### ${phase}`);
        const closed = await closedLoopRounds(live, { ...load, headers }, opts.rounds, [...new Set([...live.map((t) => t.pid), as.process.pid])], gate);
        phases[phase] = { closed, summary: summarisePhase(closed), syscalls: {} };
        // after the timed rounds (strace slows what it watches): syscalls per request, load-independent
        for (const t of live) {
          if (t.name === 'direct') continue;
          const c = await countSyscalls(t.pid, async () => (await runAmount(t.url, { connections: load.connections, pipelining: 1, timeoutS: load.timeoutS, path: load.path, headers, amount: SYSCALL_REQUESTS })).requests);
          phases[phase]!.syscalls[t.name] = c;
          say(`  syscalls ${t.name.padEnd(12)} ${typeof c === 'string' ? `skipped: ${c}` : `${c.perRequest.toFixed(2)} per request (${Object.entries(c.bySyscall).map(([k, v]) => `${k} ${v}`).join(', ')}; set up in the count: ${c.setUp.accepts} accept, ${c.setUp.connects} connect calls)`}`);
        }
      } finally {
        for (const stop of phaseStops.reverse()) await stop().catch(() => {});
      }
    }
    const warnings = [
      ...COMPARE_PHASES.flatMap((p) => sideBySideWarnings(phases[p]!.summary.throughput).map((w) => `${p}: ${w}`)),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    const table = [
      `**Closed loop** — ${loader === 'wrk' ? `wrk -t${WRK_THREADS}` : 'autocannon'} ${load.connections} connections, ${load.durationS} s (+${load.warmupS} s warmup) per round, targets rotated each round; baseline = ${baseline}; CPU µs/req is the hop's process${peer ? ` tree (primary + workers); peer harness's terms (${PEER_TERMS_ENV}=1): Portcullis workers ${PEER_WORKERS}, HAProxy nbthread ${PEER_WORKERS}, ${plan.note}` : ''}${xff !== '' ? `; this build with server.forwarded.x_forwarded_for: ${xff} (${XFF_ENV}), the baseline with its default` : ''}${pipelining !== '' ? `; this build with upstreams.app.pipelining: ${pipelining} (${PIPELINING_ENV})` : ''}${haproxyForwardforFromEnv() ? `; HAProxy with option forwardfor (${HAPROXY_FORWARDFOR_ENV}=1: appends X-Forwarded-For like Portcullis' default)` : ''}.`,
      ...COMPARE_PHASES.flatMap((p) => {
        const s = phases[p]!.summary;
        return ['', `### ${p}`, '', throughputTable(COMPARE_TARGETS, s.throughput), '', ratioTable(s.ratios), '',
          `CPU saved per request (baseline − portcullis, median of rounds): ${cell(s.cpuSavedUs, 1)} µs; V8 heap allocated per response (median of rounds, warmup included): baseline ${cell(s.heapBytes.baseline, 0)} B, portcullis ${cell(s.heapBytes.portcullis, 0)} B`, '', roundsTable(phases[p]!.closed), '', syscallTable(phases[p]!.syscalls)];
      }),
      ...warnings.map((w) => `\n> **Warning:** ${w}`),
    ].join('\n');
    return {
      scenario: 'build-compare', quick: opts.quick,
      flags: { throughput: load, rounds: opts.rounds, order: 'rotated each round', baseline, quietWaitS: gate.waitedS, ...(peer ? { peerTerms: { workers: PEER_WORKERS, nbthread: PEER_WORKERS } } : {}), ...(xff !== '' ? { xForwardedFor: xff } : {}), ...(pipelining !== '' ? { pipelining: Number(pipelining) } : {}) },
      cpuPlan: plan, peers, skipped: {},
      rounds: Object.fromEntries(COMPARE_PHASES.map((p) => [p, phases[p]!.closed])),
      summary: Object.fromEntries(COMPARE_PHASES.map((p) => [p, { ...phases[p]!.summary, syscalls: phases[p]!.syscalls }])),
      warnings, table,
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
