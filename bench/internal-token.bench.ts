// Scenario `internal-token`: the cost of `forward.token: internal` (node/s2s). Warm: one inbound
// token repeated — the minted token comes from the cache — against the same route with
// `forward.token: keep`. Cold: distinct inbound tokens in rotation — every request verifies and
// (internal) mints — with signing on the worker thread and inline. One Portcullis process per
// target so CPU µs/req and the mint counters belong to that target alone.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuPlan } from './cpu-plan.js';
import { DEFAULT_LOAD_FLAGS, headerRotation, type LoadFlags } from './load.js';
import { mintMicro, mintMicroTable, type MintMicroResult } from './mint-micro.js';
import { hasTaskset, pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { closedLoopRounds, foldRounds, ratioTable, rpsRatio, sideBySideWarnings, throughputTable, type LoadTarget } from './side-by-side.js';
import type { LoadResult, LoadSummary } from './stats.js';
import { startPortcullis, startUpstreamProcess } from './targets.js';
import { BENCH_SCOPE, adminStats, benchConfigHead, startAuthServerProcess, tokenConfigEnv, waitUntilServing } from './token-targets.js';

/** Distinct inbound tokens for the cold targets (quick: 5000); caches hold 1024, so every request is cold. */
export const MINT_TOKENS = 20_000;
export const MINT_TOKENS_QUICK = 5_000;
export const MINT_CACHE_ENTRIES = 1024;

export interface MintTarget {
  name: string;
  token: 'keep' | 'internal';
  signing: 'worker' | 'inline';
  inbound: 'warm' | 'cold';
}

export const MINT_TARGETS: readonly MintTarget[] = [
  { name: 'keep-warm', token: 'keep', signing: 'worker', inbound: 'warm' },
  { name: 'internal-cached', token: 'internal', signing: 'worker', inbound: 'warm' },
  { name: 'keep-cold', token: 'keep', signing: 'worker', inbound: 'cold' },
  { name: 'internal-first-mint', token: 'internal', signing: 'worker', inbound: 'cold' },
  { name: 'internal-first-mint-inline', token: 'internal', signing: 'inline', inbound: 'cold' },
];

/** The config of one target: one issuer, one route `/*` (scope orders:read), internal_tokens when minting. */
export function mintConfigYaml(o: { upstreamPort: number; issuer: string; alg: string; t: MintTarget }): string {
  const internal = o.t.token === 'internal'
    ? `internal_tokens: { issuer: "https://portcullis.bench", alg: ES256, max_ttl_s: 300, cache_entries: ${MINT_CACHE_ENTRIES}, signing: ${o.t.signing} }\n`
    : '';
  return `${benchConfigHead(o.issuer, [o.alg], o.upstreamPort)}
routes:
  - name: api
    match: { path: "/*" }
    upstream: app
    auth: { scopes: { all: [${BENCH_SCOPE}] } }
    forward: { token: ${o.t.token} }
${internal}verifier: { pool_size: 1, cache_entries: ${MINT_CACHE_ENTRIES} }
log: { level: info, access: false }
`;
}

export interface MintCounters { lookups: number; minted: number; mintsPerRequest: number | null; meanBatch: number | null }

/** Pure: counters of one internal target from two /cache/stats snapshots. */
export function mintCounters(a: Record<string, number>, b: Record<string, number>): MintCounters {
  const d = (k: string): number => (b[`internal_tokens.${k}`] ?? 0) - (a[`internal_tokens.${k}`] ?? 0);
  const lookups = d('cache_hits') + d('cache_misses') + d('singleflight_waits');
  const minted = d('minted');
  const batches = d('sign_batches');
  return { lookups, minted, mintsPerRequest: lookups > 0 ? minted / lookups : null, meanBatch: batches > 0 ? minted / batches : null };
}

export interface InternalTokenSummary {
  throughput: Record<string, LoadSummary>;
  ratios: Array<[string, number | null]>;
  cpuAdded: Array<[string, number | null]>;
  counters: Record<string, MintCounters>;
  micro: MintMicroResult | null;
}

const cpu = (s: Record<string, LoadSummary>, a: string, b: string): number | null =>
  s[a]?.cpuUsPerReq !== undefined && s[b]?.cpuUsPerReq !== undefined ? s[a]!.cpuUsPerReq! - s[b]!.cpuUsPerReq! : null;

/** Pure: folded rounds, the ratios that isolate the mint, CPU added per request. */
export function summariseInternalToken(closed: Record<string, LoadResult[]>, counters: Record<string, MintCounters>, micro: MintMicroResult | null = null): InternalTokenSummary {
  const throughput = foldRounds(closed);
  return {
    throughput,
    ratios: [
      ['internal-cached / keep-warm (cached mint)', rpsRatio(closed, 'internal-cached', 'keep-warm')],
      ['internal-first-mint / keep-cold (signing on the worker)', rpsRatio(closed, 'internal-first-mint', 'keep-cold')],
      ['internal-first-mint-inline / keep-cold (signing inline)', rpsRatio(closed, 'internal-first-mint-inline', 'keep-cold')],
      ['internal-first-mint / internal-first-mint-inline', rpsRatio(closed, 'internal-first-mint', 'internal-first-mint-inline')],
    ],
    cpuAdded: [
      ['cached mint (internal-cached − keep-warm)', cpu(throughput, 'internal-cached', 'keep-warm')],
      ['first mint, worker (internal-first-mint − keep-cold)', cpu(throughput, 'internal-first-mint', 'keep-cold')],
      ['first mint, inline (internal-first-mint-inline − keep-cold)', cpu(throughput, 'internal-first-mint-inline', 'keep-cold')],
    ],
    counters,
    micro,
  };
}

export function internalTokenTables(s: InternalTokenSummary, load: LoadFlags, tokens: number, alg: string, cpuNote: string, warnings: readonly string[]): string {
  const names = MINT_TARGETS.map((t) => t.name);
  const added = markdownTable(['CPU added per request (µs, all threads of the process)', 'value'], s.cpuAdded.map(([k, v]) => [k, cell(v, 1)]), [false, true]);
  const counters = markdownTable(['target', 'mints / request', 'mints', 'mean signing batch'],
    Object.entries(s.counters).map(([t, c]) => [t, cell(c.mintsPerRequest, 3), cell(c.minted, 0), cell(c.meanBatch, 1)]), [false, true, true, true]);
  return [
    `**Throughput** — warm: one ${alg} inbound token repeated; cold: ${tokens} distinct ${alg} inbound tokens in rotation (verifier and mint caches ${MINT_CACHE_ENTRIES} entries, so every cold request verifies and mints). Internal tokens ES256, one Portcullis process per target; closed loop, autocannon ${load.connections} connections, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds. CPU split: ${cpuNote}.`,
    '', throughputTable(names, s.throughput), '', ratioTable(s.ratios), '', added, '',
    '**Mint counters** (all rounds, warmups included):', '', counters,
    ...(s.micro === null ? [] : [
      '', `**One signature inline vs on the worker thread** — in-process, no HTTP, best of 3: event-loop (main thread) time per mint, one at a time (${s.micro.lone}, a setImmediate between) and ${s.micro.burst} in one turn (batched to the worker); the bench process may use every CPU.`,
      '', mintMicroTable(s.micro),
    ]),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

export async function internalToken(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlan(availableParallelism());
  const alg = opts.jwtAlg;
  const nTokens = opts.quick ? MINT_TOKENS_QUICK : MINT_TOKENS;
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const t0 = performance.now();
    const tokens = await as.mint({ kind: 'jwt', alg, count: nTokens });
    say(`  minted ${tokens.length} ${alg} inbound tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);
    const rotation = headerRotation('authorization', tokens, { prefix: 'Bearer ' });
    const warm = { authorization: `Bearer ${tokens[0]}` };

    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const live: LoadTarget[] = [];
    const admins: Record<string, { port: number; token: string }> = {};
    for (const t of MINT_TARGETS) {
      const { env, adminToken } = tokenConfigEnv();
      const pc = await startPortcullis(mintConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, alg, t }), plan.proxy, env);
      stops.push(() => pc.stop());
      live.push({ name: t.name, url: pc.url, pid: pc.process.pid, ...(t.inbound === 'warm' ? { headers: warm } : { rotation }) });
      if (t.token === 'internal') admins[t.name] = { port: pc.adminPort, token: adminToken };
    }
    for (const t of live) await waitUntilServing(t.name, t.url + load.path, warm);

    const ownPids = [...new Set([...live.map((t) => t.pid), upstream.process.pid, as.process.pid])];
    const before: Record<string, Record<string, number>> = {};
    for (const [name, a] of Object.entries(admins)) before[name] = await adminStats(a.port, a.token);
    const closed = await closedLoopRounds(live, load, opts.rounds, ownPids);
    const counters: Record<string, MintCounters> = {};
    for (const [name, a] of Object.entries(admins)) counters[name] = mintCounters(before[name]!, await adminStats(a.port, a.token));

    restoreAffinity(); // the micro bench runs with the load stopped, free to use every CPU
    restoreAffinity = () => {};
    say('  inline vs worker signing microbenchmark…');
    const micro = await mintMicro({ lone: 300, burst: opts.quick ? 500 : 2000 });
    const summary = summariseInternalToken(closed, counters, micro);
    const warnings = [
      ...sideBySideWarnings(summary.throughput),
      ...Object.entries(counters).filter(([n, c]) => n.includes('first-mint') && c.mintsPerRequest !== null && c.mintsPerRequest < 0.99)
        .map(([n, c]) => `${n}: only ${c.mintsPerRequest!.toFixed(3)} mints per request: part of its load hit the mint cache`),
      ...Object.entries(counters).filter(([n, c]) => n.includes('cached') && c.mintsPerRequest !== null && c.mintsPerRequest > 0.01)
        .map(([n, c]) => `${n}: ${c.mintsPerRequest!.toFixed(3)} mints per request: the cached path was not all cache hits`),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'internal-token',
      quick: opts.quick,
      flags: {
        alg, tokens: nTokens, internalAlg: 'ES256', rounds: opts.rounds, order: 'rotated each round',
        throughput: { ...load, headers: { authorization: `Bearer <one or ${nTokens} distinct ${alg} tokens>` } },
        portcullis: { workers: 1, 'verifier.pool_size': 1, 'verifier.cache_entries': MINT_CACHE_ENTRIES, 'internal_tokens.cache_entries': MINT_CACHE_ENTRIES },
        targets: MINT_TARGETS,
      },
      cpuPlan: plan,
      peers: {},
      skipped: {},
      rounds: { throughput: closed },
      summary,
      warnings,
      table: internalTokenTables(summary, load, nTokens, alg, plan.note, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
