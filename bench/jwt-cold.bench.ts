// Scenario `jwt-cold`: distinct tokens, so every request needs a signature check. 20 000 tokens
// are minted up front and sent in rotation; Portcullis' cache is sized below the rotation
// (1024 entries), so a token has always left it before it comes round again (measured: the
// verifications-per-request column). Compares verifier.pool_size 1 vs N (the proxy's CPUs),
// HAProxy jwt_verify (matched and minimal checks) and direct, plus the default verifier.mode
// auto, inline, and `server.workers` = N processes with auto (the peer harness's "N workers or
// threads each"; with PORTCULLIS_BENCH_BASELINE, another build's pool in the same rounds); then,
// without HTTP, one verification inline vs on the pool (verify-micro.ts).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BASELINE_ENV, baselineCli } from './build-compare.bench.js';
import { cpuPlanSpread } from './cpu-plan.js';
import { startHaproxy } from './haproxy.js';
import { DEFAULT_LOAD_FLAGS, headerRotation, type HeaderRotation, type LoadFlags } from './load.js';
import { compiledRoot } from './paths.js';
import { hasTaskset, pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { closedLoopRounds, foldRounds, quietGate, ratioBasis, ratioTable, rpsRatio, sideBySideWarnings, throughputTable, type LoadTarget, type RatioRow, type RoundResults } from './side-by-side.js';
import { pairedRatio, type LoadSummary } from './stats.js';
import { PortcullisUnavailable, startPortcullis, startUpstreamProcess } from './targets.js';
import {
  BENCH_AUDIENCE, adminMetricsCounters, adminStats, checksTable, counterDelta, haproxyJwtChecks, jwtRefusalProbes, publicKeyPem, refusalsMissed,
  startAuthServerProcess, tempFile, tokenConfigEnv, tokenConfigYaml, tokenCounters, waitUntilServing, type BenchJwtAlg, type TokenCounters,
} from './token-targets.js';
import { pathMicroTable, verifierPathMicro, type PathMicroResult } from './verifier-path-micro.js';
import { microTable, poolVerdict, verifyMicro, type MicroResult } from './verify-micro.js';

/** Tokens in rotation (quick: 5000) and the cache bound that keeps each one cold when it comes round again. */
export const COLD_TOKENS = 20_000;
export const COLD_TOKENS_QUICK = 5_000;
export const COLD_CACHE_ENTRIES = 1024;

/** Row name of the Portcullis instance with `n` verifier threads. */
export const poolTarget = (n: number): string => `portcullis-pool-${n}`;

/** Row of the default `verifier.mode: auto` (pool_size = the proxy's CPUs). */
export const AUTO_TARGET = 'portcullis-auto';
/** Row of `verifier.mode: inline` (no verifier threads). */
export const INLINE_TARGET = 'portcullis-inline';
/** Processes of the multi-process row: as many as HAProxy's threads (the proxy's CPUs). */
export const workersTarget = (n: number): string => `portcullis-workers-${n}`;
/** Closed-loop connections instead of the default 50 (issue 13's peer harness: 64). */
export const CONNECTIONS_ENV = 'PORTCULLIS_BENCH_CONNECTIONS';

/** Comma-separated row names to run (direct always runs); unset = every row. For paired re-runs of a few rows on a noisy machine. */
export const COLD_TARGETS_ENV = 'PORTCULLIS_BENCH_COLD_TARGETS';

/** Pure: the rows `$PORTCULLIS_BENCH_COLD_TARGETS` selects, null = all. */
export function coldTargetsFromEnv(env: NodeJS.ProcessEnv): ReadonlySet<string> | null {
  const v = (env[COLD_TARGETS_ENV] ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  return v.length === 0 ? null : new Set(v);
}

/** Pure: the connections from `$PORTCULLIS_BENCH_CONNECTIONS` (1–1000), `fallback` when unset; throws on anything else. */
export function connectionsFromEnv(env: NodeJS.ProcessEnv, fallback: number): number {
  const v = env[CONNECTIONS_ENV] ?? '';
  if (v === '') return fallback;
  if (!/^[1-9][0-9]{0,3}$/.test(v) || Number(v) > 1000) throw new Error(`${CONNECTIONS_ENV}: an integer 1–1000, not ${JSON.stringify(v)}`);
  return Number(v);
}
/** Row of the $PORTCULLIS_BENCH_BASELINE build with `n` verifier threads (its defaults otherwise). */
export const baselineTarget = (n: number): string => `baseline-pool-${n}`;
/** Row of the $PORTCULLIS_BENCH_BASELINE build as `portcullis-workers-N` runs (N processes, verifier.mode auto): the paired A/B of issue 13's row. */
export const baselineWorkersTarget = (n: number): string => `baseline-workers-${n}`;

/** Pure: median of per-round CPU µs/req ratios a / b (every round: CPU per request is robust to load). */
export function cpuRatio(m: RoundResults, a: string, b: string): number | null {
  const pick = (t: string): number[] | undefined => m[t]?.map((r) => r.cpuUsPerReq ?? Number.NaN);
  const r = pairedRatio(pick(a), pick(b));
  return r === null || Number.isNaN(r) ? null : r;
}

/** Pure: the pool sizes compared — 1 and the proxy's CPU count (just 1 on a single-CPU split). */
export function coldPoolSizes(proxyCpus: number): number[] {
  return proxyCpus > 1 ? [1, proxyCpus] : [1];
}

export interface ColdCounters extends TokenCounters {
  /** Signature verifications per request that reached authentication (1.0 = every request cold). */
  verificationsPerRequest: number | null;
}

export interface JwtColdSummary {
  throughput: Record<string, LoadSummary>;
  ratios: RatioRow[];
  /** CPU µs/req ratios (lower is cheaper), median of per-round ratios over every round. */
  cpuRatios: RatioRow[];
  portcullis: Record<string, ColdCounters>;
  micro: MicroResult | null;
  /** The whole JwtVerifier miss path in-process, per build and mode (absent in older summaries). */
  pathMicro?: PathMicroResult | null;
}

/** Pure: counters with verifications per authenticated request (cache lookups = hits + misses). */
export function coldCounters(c: TokenCounters): ColdCounters {
  const lookups = c.cacheHits + c.cacheMisses;
  return { ...c, verificationsPerRequest: lookups > 0 ? c.verifyOk / lookups : null };
}

/** Pure: summaries and the ratios that matter here (pool scaling, Portcullis vs HAProxy). */
export function summariseJwtCold(closed: RoundResults, sizes: readonly number[], counters: Record<string, TokenCounters>, micro: MicroResult | null): JwtColdSummary {
  const lo = poolTarget(sizes[0]!);
  const hi = poolTarget(sizes[sizes.length - 1]!);
  const row = (a: string, b: string, label = `${a} / ${b}`): RatioRow => [label, rpsRatio(closed, a, b), ratioBasis(closed, a, b)];
  const ratios: RatioRow[] = [];
  if (hi !== lo) ratios.push(row(hi, lo, `${hi} / ${lo} (pool scaling)`));
  ratios.push(row(hi, 'haproxy'));
  if (hi !== lo) ratios.push(row(lo, 'haproxy'));
  ratios.push(row(hi, 'haproxy-min'), row(hi, 'direct'), row('haproxy', 'direct'));
  const cpu: RatioRow[] = [];
  const cpuRow = (a: string, b: string): void => { if (closed[a] !== undefined && closed[b] !== undefined) cpu.push([`${a} / ${b}`, cpuRatio(closed, a, b), `all ${closed[a]!.length}`]); };
  for (const extra of [workersTarget(sizes[sizes.length - 1]!), AUTO_TARGET, INLINE_TARGET, baselineTarget(sizes[sizes.length - 1]!)]) {
    if (closed[extra] === undefined) continue;
    ratios.push(row(extra, 'haproxy'), row(extra, hi));
    cpuRow(extra, 'haproxy');
    cpuRow(extra, hi);
  }
  if (closed[AUTO_TARGET] !== undefined) cpuRow(AUTO_TARGET, baselineTarget(sizes[sizes.length - 1]!));
  const [workers, baseWorkers] = [workersTarget(sizes[sizes.length - 1]!), baselineWorkersTarget(sizes[sizes.length - 1]!)];
  if (closed[baseWorkers] !== undefined) {
    ratios.push(row(baseWorkers, 'haproxy'));
    if (closed[workers] !== undefined) { ratios.push(row(workers, baseWorkers)); cpuRow(workers, baseWorkers); }
    cpuRow(baseWorkers, 'haproxy');
  }
  cpuRow(hi, 'haproxy');
  if (hi !== lo) cpuRow(lo, 'haproxy');
  return {
    cpuRatios: cpu,
    throughput: foldRounds(closed),
    ratios,
    portcullis: Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, coldCounters(v)])),
    micro,
  };
}

/** Pure: the printed tables. */
export function jwtColdTables(s: JwtColdSummary, names: readonly string[], skipped: Record<string, string>, load: LoadFlags, tokens: number, alg: BenchJwtAlg, cpuNote: string, warnings: readonly string[] = []): string {
  const counters = markdownTable(
    ['target', 'verifications / request', 'cache hits', 'cache misses', 'verifications', 'inline', 'budget spills', 'mean batch to a worker', 'heap B/resp (main threads)'],
    Object.entries(s.portcullis).map(([t, c]) => [t, cell(c.verificationsPerRequest, 3), cell(c.cacheHits, 0), cell(c.cacheMisses, 0), cell(c.verifyOk, 0), cell(c.verifyInline ?? 0, 0), cell(c.inlineSpills ?? 0, 0), cell(c.poolBatches > 0 ? c.poolTasks / c.poolBatches : null, 1), cell(s.throughput[t]?.heapBytesPerReq, 0)]),
    [false, true, true, true, true, true, true, true, true],
  );
  return [
    `**Throughput with distinct tokens** — ${tokens} ${alg} tokens sent in rotation (each request the next token; each target continues its own rotation across rounds), Portcullis cache ${COLD_CACHE_ENTRIES} entries (< rotation: every request verifies); closed loop, autocannon ${load.connections} connections, pipelining ${load.pipelining}, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds. CPU split: ${cpuNote}. CPU µs/req counts every thread of the process and of its child processes (Portcullis: main + pool threads; portcullis-workers-N: the primary and its N workers), heap B/resp likewise sums every Portcullis process's main thread.`,
    '', throughputTable(names, s.throughput, skipped), '',
    ratioTable(s.ratios), '',
    ...(s.cpuRatios.length === 0 ? [] : [ratioTable(s.cpuRatios, 'ratio (CPU µs/req, median of per-round ratios; < 1 = cheaper)'), '']),
    '**Portcullis under load** (all rounds, warmups included):', '', counters,
    ...(s.micro === null ? [] : [
      '',
      `**One verification inline vs on the pool** — in-process, no HTTP: the verifier worker's code (node:crypto) on the event loop vs the product's VerifierPool, ${s.micro.tokens} distinct ${s.micro.alg} tokens, ${s.micro.inFlight} in flight; the bench process may use every CPU.`,
      '', microTable(s.micro), '', poolVerdict(s.micro),
    ]),
    ...(s.pathMicro == null ? [] : [
      '',
      `**The whole miss path, in-process** — JwtVerifier.verify on ${s.pathMicro.tokensPerRound} distinct tokens per round, ${s.pathMicro.inFlight} in flight, ${s.pathMicro.rounds} interleaved rounds (medians): hash, parse, issuer and key, pre-checks, the signature where the mode puts it, principal, cache insert. Process CPU counts every thread.`,
      '', pathMicroTable(s.pathMicro),
    ]),
    '', '**What each side checks** (every proxy was probed with bad tokens before the load, as in jwt-warm):', '',
    checksTable(alg, `every request, on the pool (pool rows) or the event loop (auto, inline: see the inline column), the same function either way (parse, header, kid, node:crypto verify, claims), then cached (${COLD_CACHE_ENTRIES} entries)`),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run the scenario; every process it starts is stopped on the way out. */
export async function jwtCold(opts: ScenarioOptions): Promise<ScenarioReport> {
  const cores = availableParallelism();
  const plan = cpuPlanSpread(cores);
  const alg = opts.jwtAlg;
  const sizes = coldPoolSizes(plan.proxy.length);
  const nTokens = opts.quick ? COLD_TOKENS_QUICK : COLD_TOKENS;
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, connections: connectionsFromEnv(process.env, DEFAULT_LOAD_FLAGS.connections), durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  const skipped: Record<string, string> = {};
  const peers: Record<string, string> = {};
  const only = coldTargetsFromEnv(process.env);
  const wanted = (name: string): boolean => {
    if (only === null || only.has(name)) return true;
    skipped[name] = `not in ${COLD_TARGETS_ENV}`;
    return false;
  };
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const t0 = performance.now();
    const tokens = await as.mint({ kind: 'jwt', alg, count: nTokens });
    const mintS = (performance.now() - t0) / 1000;
    say(`  minted ${tokens.length} ${alg} tokens in ${mintS.toFixed(1)} s`);
    const probes = await jwtRefusalProbes(as, alg, tokens[0]!);
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);
    // one rotation per target over the same tokens: a target's next run continues where its last
    // one stopped, so a token comes back to a Portcullis only after 20 000 of its own requests
    // (a rotation shared by all targets would sometimes restart a run inside its 1024 cached tokens)
    // tokens[0] answers the readiness probes (and so sits in the cache): it stays out of the rotation
    const rotation = (): HeaderRotation => headerRotation('authorization', tokens.slice(1), { prefix: 'Bearer ' });
    const first = { authorization: `Bearer ${tokens[0]}` };

    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const live: LoadTarget[] = [{ name: 'direct', url: upstream.url, pid: upstream.process.pid, rotation: rotation() }];
    // metrics: a --workers primary, whose counters come summed from /metrics (no /cache/stats there)
    const admins: Record<string, { port: number; token: string; metrics?: boolean }> = {};
    // every Portcullis row carries heap-alloc-preload: heap bytes per response beside CPU µs
    const heapEnv = { PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(compiledRoot(), 'bench', 'heap-alloc-preload.js')}`.trim() };
    for (const n of sizes) {
      const name = poolTarget(n);
      if (!wanted(name)) continue;
      const { env, adminToken } = tokenConfigEnv();
      try {
        const pc = await startPortcullis(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg], poolSize: n, cacheEntries: COLD_CACHE_ENTRIES, verifierMode: 'pool' }), plan.proxy, { ...env, ...heapEnv });
        stops.push(() => pc.stop());
        live.push({ name, url: pc.url, pid: pc.process.pid, rotation: rotation(), heapAlloc: pc.process });
        admins[name] = { port: pc.adminPort, token: adminToken };
      } catch (err) {
        if (!(err instanceof PortcullisUnavailable)) throw err;
        skipped[name] = err.message;
        say(`skip ${name}: ${err.message}`);
      }
    }
    // the default placement, and (opt-in) another build's pool with the largest size: same rounds, same tokens
    const hiSize = sizes[sizes.length - 1]!;
    // the workers row: `serve` with server.workers = HAProxy's nbthread, default verifier.mode auto
    // (with no more CPUs than processes auto verifies inline: its placement counters show it)
    const extras: [string, string | undefined, string | undefined, number][] = [[AUTO_TARGET, undefined, undefined, 1], [INLINE_TARGET, 'inline', undefined, 1]];
    if (plan.proxy.length > 1) extras.unshift([workersTarget(plan.proxy.length), undefined, undefined, plan.proxy.length]);
    if ((process.env[BASELINE_ENV] ?? '') !== '') {
      extras.push([baselineTarget(hiSize), undefined, baselineCli(), 1]);
      if (plan.proxy.length > 1) extras.push([baselineWorkersTarget(plan.proxy.length), undefined, baselineCli(), plan.proxy.length]);
    }
    for (const [name, mode, cli, workers] of extras) {
      if (!wanted(name)) continue;
      const { env, adminToken } = tokenConfigEnv();
      const pc = await startPortcullis(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg], poolSize: hiSize, cacheEntries: COLD_CACHE_ENTRIES, verifierMode: mode, workers }), plan.proxy, { ...env, ...heapEnv }, cli);
      stops.push(() => pc.stop());
      live.push({ name, url: pc.url, pid: pc.process.pid, rotation: rotation(), heapAlloc: pc.process });
      admins[name] = { port: pc.adminPort, token: adminToken, ...(workers > 1 ? { metrics: true } : {}) };
    }
    const pem = tempFile(`${alg}.pem`, await publicKeyPem(as.jwksUri, alg));
    stops.push(() => pem.cleanup());
    for (const [name, full] of [['haproxy', true], ['haproxy-min', false]] as const) {
      if (!wanted(name)) continue;
      const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: plan.proxy.length, cpus: plan.proxy, jwt: haproxyJwtChecks(pem.path, alg, as.issuer, full) });
      if (hp.skipped) { skipped[name] = hp.reason; continue; }
      stops.push(() => hp.stop());
      peers.haproxy = hp.version;
      live.push({ name, url: hp.url, pid: hp.process.pid, rotation: rotation() });
    }
    for (const t of live) {
      await waitUntilServing(t.name, t.url + load.path, first);
      if (t.name === 'direct') continue;
      const missed = await refusalsMissed(t.url + load.path, probes, new Set(t.name === 'haproxy-min' ? ['missing scope'] : []));
      if (missed.length > 0) throw new Error(`${t.name} did not refuse bad tokens as expected: ${missed.join('; ')}`);
    }

    const ownPids = [...new Set([...live.map((t) => t.pid), as.process.pid])];
    const before: Record<string, TokenCounters> = {};
    const read = async (a: { port: number; token: string; metrics?: boolean }): Promise<TokenCounters> => a.metrics === true ? adminMetricsCounters(a.port, a.token) : tokenCounters(await adminStats(a.port, a.token));
    for (const [name, a] of Object.entries(admins)) before[name] = await read(a);
    const gate = quietGate(opts.quick ? 5 : 60);
    const closed = await closedLoopRounds(live, load, opts.rounds, ownPids, gate);
    const counters: Record<string, TokenCounters> = {};
    for (const [name, a] of Object.entries(admins)) counters[name] = counterDelta(before[name]!, await read(a));

    // the micro bench runs with the load stopped and this process free to use every CPU
    restoreAffinity();
    restoreAffinity = () => {};
    // a row subset is a paired re-run of the HTTP rows: the in-process benches are left out
    const micro = only !== null ? null : await (say('  inline vs pool microbenchmark…'), verifyMicro({ tokens: tokens.slice(0, opts.quick ? 2000 : 10_000), jwksUri: as.jwksUri, issuer: as.issuer, audience: BENCH_AUDIENCE, alg, sizes: [...new Set([1, cores])] }));
    const pathMicro = only !== null ? null : await (say('  verifier miss path, per build and mode…'), verifierPathMicro({
      tokens: tokens.slice(1, opts.quick ? 5000 : 20_000), jwksUri: as.jwksUri, issuer: as.issuer, audience: BENCH_AUDIENCE, alg,
      poolSize: hiSize, baselineRoot: (process.env[BASELINE_ENV] ?? '') === '' ? null : process.env[BASELINE_ENV]!, rounds: opts.quick ? 2 : 4,
    }));
    const summary = { ...summariseJwtCold(closed, sizes, counters, micro), pathMicro };
    const names = ['direct', ...sizes.map(poolTarget), ...Object.keys(admins).filter((n) => !n.startsWith('portcullis-pool-')), 'haproxy', 'haproxy-min'];
    const warnings = [
      ...sideBySideWarnings(summary.throughput),
      ...Object.entries(summary.portcullis).filter(([, c]) => c.verificationsPerRequest !== null && c.verificationsPerRequest < 0.99)
        .map(([t, c]) => `${t}: only ${c.verificationsPerRequest!.toFixed(3)} verifications per request: part of its load was cache hits, not cold`),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'jwt-cold',
      quick: opts.quick,
      flags: {
        alg, tokens: nTokens, mintSeconds: Math.round(mintS * 10) / 10, rotation: 'each request the next token; one rotation per target, continued across its rounds',
        throughput: { ...load, headers: { authorization: `Bearer <${nTokens} distinct ${alg} tokens in rotation>` } },
        rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS,
        portcullis: { workers: `1 (${workersTarget(plan.proxy.length)}: ${plan.proxy.length}, verifier.mode auto)`, 'verifier.pool_size': sizes, 'verifier.mode': `pool (pool rows), auto (${AUTO_TARGET}, ${workersTarget(plan.proxy.length)}; pool_size ${hiSize}), inline (${INLINE_TARGET})`, 'verifier.cache_entries': COLD_CACHE_ENTRIES, baseline: process.env[BASELINE_ENV] ?? null },
        haproxy: { nbthread: plan.proxy.length, matched: 'alg, jwt_verify, exp, iss, aud, scope, identity headers', min: 'alg, jwt_verify, exp, iss, aud' },
        micro: micro === null ? null : { tokens: micro.tokens, inFlight: micro.inFlight, sizes: micro.pools.map((p) => p.size) },
        only: only === null ? null : [...only],
      },
      cpuPlan: plan,
      peers,
      skipped,
      rounds: { throughput: closed },
      summary,
      warnings,
      table: jwtColdTables(summary, names, skipped, load, nTokens, alg, plan.note, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
