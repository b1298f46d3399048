// Scenario `introspection`: opaque tokens judged by RFC 7662 introspection at the authorization
// server (its own process, on the loader's CPU). Warm: one opaque token repeated (cache hits)
// against one JWT repeated, on the same Portcullis instance, in alternating rounds. Cold: passes
// of N fresh opaque tokens, each sent 4× back to back (so the 4 requests race on different
// connections), exactly N×4 requests per pass; the AS must see exactly one call per token.
import { availableParallelism } from 'node:os';
import { cpuPlan } from './cpu-plan.js';
import { DEFAULT_LOAD_FLAGS, headerRotation, runAmount, type HeaderRotation, type LoadFlags } from './load.js';
import { cpuSeconds, hasTaskset, pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { closedLoopRounds, foldRounds, quietGate, ratioBasis, ratioTable, redactHeaders, rpsRatio, sideBySideWarnings, throughputTable, type LoadTarget, type RatioRow, type RoundResults } from './side-by-side.js';
import { median, type LoadResult, type LoadSummary } from './stats.js';
import { PortcullisUnavailable, probe, startPortcullis, startUpstreamProcess } from './targets.js';
import { adminStats, startAuthServerProcess, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';

export const INTRO_TARGETS = ['direct', 'portcullis-jwt-warm', 'portcullis-opaque-warm'] as const;
/** Requests per distinct token in a cold pass (sent consecutively, so they overlap in flight). */
export const COLD_REPEAT = 4;
/** Opaque tokens minted (quick: 10 000); a pass never reuses one. */
export const OPAQUE_TOKENS = 100_000;
export const OPAQUE_TOKENS_QUICK = 10_000;

/** One cold pass: exactly `tokens` × repeat requests, every response awaited. */
export interface ColdPass {
  tokens: number;
  requests: number;
  /** Introspection requests the authorization server received during the pass. */
  asCalls: number;
  /** asCalls / tokens: 1.0 = single-flight and cache held. */
  callsPerToken: number;
  /** Lookups that joined a call already in flight (Portcullis counter). */
  singleflightWaits: number;
  result: LoadResult;
  /** Authorization-server CPU per call, µs. */
  asCpuUsPerCall: number | null;
}

export interface IntrospectionSummary {
  throughput: Record<string, LoadSummary>;
  ratios: RatioRow[];
  cold: { calibration: ColdPass; passes: ColdPass[]; rps: number; p50: number; p99: number; callsPerToken: number; asCpuUsPerCall: number | null };
  /** AS introspection calls during the warm rounds (the warm opaque token's cache entry expires every cache_ttl_s = 60 s). */
  warmAsCalls: number;
}

/** Pure: tokens for the next pass so it lasts about `durationS` at the last pass's rate, within [100, remaining]. */
export function nextPassTokens(lastRps: number, durationS: number, repeat: number, remaining: number): number {
  const want = Math.round((lastRps * durationS) / repeat);
  return Math.max(0, Math.min(remaining, Math.max(100, want)));
}

/** Pure: fold the warm rounds and the cold passes. */
export function summariseIntrospection(closed: RoundResults, calibration: ColdPass, passes: readonly ColdPass[], warmAsCalls: number): IntrospectionSummary {
  const asCpu = passes.map((p) => p.asCpuUsPerCall).filter((x): x is number => x !== null);
  const tokens = passes.reduce((n, p) => n + p.tokens, 0);
  const calls = passes.reduce((n, p) => n + p.asCalls, 0);
  return {
    throughput: foldRounds(closed),
    ratios: ([['portcullis-opaque-warm', 'portcullis-jwt-warm'], ['portcullis-opaque-warm', 'direct'], ['portcullis-jwt-warm', 'direct']] as const)
      .map(([a, b]) => [`${a} / ${b}`, rpsRatio(closed, a, b), ratioBasis(closed, a, b)] as const),
    cold: {
      calibration,
      passes: [...passes],
      rps: median(passes.map((p) => p.result.rps)),
      p50: median(passes.map((p) => p.result.p50)),
      p99: median(passes.map((p) => p.result.p99)),
      callsPerToken: tokens > 0 ? calls / tokens : Number.NaN,
      asCpuUsPerCall: asCpu.length > 0 ? median(asCpu) : null,
    },
    warmAsCalls,
  };
}

/** Pure: warnings beyond the shared ones: any pass with calls per token ≠ 1, failed requests. */
export function introspectionWarnings(s: IntrospectionSummary): string[] {
  const w: string[] = [];
  for (const [i, p] of [s.cold.calibration, ...s.cold.passes].entries()) {
    const name = i === 0 ? 'calibration pass' : `cold pass ${i}`;
    if (p.asCalls !== p.tokens) w.push(`${name}: the authorization server saw ${p.asCalls} calls for ${p.tokens} distinct tokens (${p.callsPerToken.toFixed(4)} per token, expected exactly 1)`);
    if (p.result.errors + p.result.non2xx > 0) w.push(`${name}: ${p.result.errors} errors and ${p.result.non2xx} non-2xx responses`);
  }
  return w;
}

/** Pure: the printed tables. */
export function introspectionTables(s: IntrospectionSummary, skipped: Record<string, string>, load: LoadFlags, warnings: readonly string[] = []): string {
  const passRow = (name: string, p: ColdPass): string[] => [name, cell(p.tokens, 0), cell(p.requests, 0), cell(p.asCalls, 0), cell(p.callsPerToken, 4), cell(p.singleflightWaits, 0), cell(p.result.rps, 0), cell(p.result.p50), cell(p.result.p99), cell(p.result.errors + p.result.non2xx, 0), cell(p.result.cpuUsPerReq, 1), cell(p.asCpuUsPerCall, 1), cell(p.result.foreignCores)];
  const cold = markdownTable(
    ['pass', 'distinct tokens', 'requests', 'AS calls', 'AS calls / token', 'single-flight joins', 'rps', 'p50 ms', 'p99 ms', 'errors + non-2xx', 'proxy CPU µs/req', 'AS CPU µs/call', 'foreign CPU'],
    [passRow('calibration', s.cold.calibration), ...s.cold.passes.map((p, i) => passRow(`round ${i + 1}`, p))],
    [false, true, true, true, true, true, true, true, true, true, true, true, true],
  );
  return [
    `**Warm** — one token repeated, same Portcullis instance (issuer with JWKS and introspection, cache_ttl_s 60): closed loop, autocannon ${load.connections} connections, pipelining ${load.pipelining}, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds. The authorization server received ${s.warmAsCalls} introspection call${s.warmAsCalls === 1 ? '' : 's'} over the warm rounds (one per 60 s TTL expected).`,
    '', throughputTable(INTRO_TARGETS, s.throughput, skipped), '',
    ratioTable(s.ratios), '',
    `**Cold** — fresh opaque tokens, each sent ${COLD_REPEAT}× consecutively (the ${COLD_REPEAT} requests go out together on different connections and race), exactly tokens × ${COLD_REPEAT} requests per pass over ${load.connections} connections; pass size calibrated to ~${load.durationS} s. AS = the embedded authorization server (node:http, client_secret_basic), its own process on the loader's CPU; its CPU per call is in the table.`,
    '', cold, '',
    `Cold, median of rounds: ${cell(s.cold.rps, 0)} rps, p50 ${cell(s.cold.p50)} ms, p99 ${cell(s.cold.p99)} ms; **AS calls per distinct token: ${cell(s.cold.callsPerToken, 4)}** (target 1).`,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run the scenario; every process it starts is stopped on the way out. */
export async function introspection(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlan(availableParallelism());
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  const skipped: Record<string, string> = {};
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const nOpaque = opts.quick ? OPAQUE_TOKENS_QUICK : OPAQUE_TOKENS;
    const [jwt] = await as.mint({ kind: 'jwt', alg: opts.jwtAlg, count: 1 });
    const [warmOpaque] = await as.mint({ kind: 'opaque', count: 1 });
    const coldTokens = await as.mint({ kind: 'opaque', count: nOpaque });
    // introspection is on the cold path: the AS shares the loader's CPU, not the proxy's
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);

    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const { env, adminToken } = tokenConfigEnv();
    let pc;
    try {
      pc = await startPortcullis(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [opts.jwtAlg], poolSize: 1, cacheEntries: 200_000, introspection: true }), plan.proxy, env);
    } catch (err) {
      if (!(err instanceof PortcullisUnavailable)) throw err;
      throw new Error(`introspection needs Portcullis: ${err.message}`);
    }
    stops.push(() => pc.stop());
    const jwtAuth = { authorization: `Bearer ${jwt}` };
    const opaqueAuth = { authorization: `Bearer ${warmOpaque}` };
    const live: LoadTarget[] = [
      { name: 'direct', url: upstream.url, pid: upstream.process.pid, headers: opaqueAuth },
      { name: 'portcullis-jwt-warm', url: pc.url, pid: pc.process.pid, headers: jwtAuth },
      { name: 'portcullis-opaque-warm', url: pc.url, pid: pc.process.pid, headers: opaqueAuth },
    ];
    for (const t of live) await waitUntilServing(t.name, t.url + load.path, t.headers ?? {});
    const unknown = await probe(pc.url + load.path, { authorization: 'Bearer unknown-opaque-token-0000000000000000000' });
    if (unknown.status !== 401) throw new Error(`portcullis answered ${unknown.status} to an unknown opaque token instead of 401`);

    const ownPids = [...new Set([...live.map((t) => t.pid), as.process.pid])];
    const warm0 = (await as.counters()).introspection;
    const gate = quietGate(opts.quick ? 5 : 45);
    const closed = await closedLoopRounds(live, load, opts.rounds, ownPids, gate);
    const warmAsCalls = (await as.counters()).introspection - warm0;

    const rotation = headerRotation('authorization', coldTokens, { prefix: 'Bearer ', repeat: COLD_REPEAT });
    const pass = async (tokens: number): Promise<ColdPass> => (await gate.wait(ownPids), coldPass(pc.url, load, rotation, tokens, { proxyPid: pc.process.pid, ownPids, as, adminPort: pc.adminPort, adminToken }));
    const calibration = await pass(Math.min(opts.quick ? 500 : 2000, nOpaque));
    say(`  cold calibration: ${calibration.tokens} tokens, ${calibration.result.rps.toFixed(0)} rps, ${calibration.asCalls} AS calls`);
    const passes: ColdPass[] = [];
    let last = calibration.result.rps;
    let clipped = false;
    for (let round = 0; round < opts.rounds; round++) {
      const remaining = Math.floor((rotation.values.length * COLD_REPEAT - rotation.sent) / COLD_REPEAT);
      const n = nextPassTokens(last, load.durationS, COLD_REPEAT, remaining);
      if (n < Math.round((last * load.durationS) / COLD_REPEAT)) clipped = true;
      if (n * COLD_REPEAT < load.connections) break;
      const p = await pass(n);
      passes.push(p);
      last = p.result.rps;
      say(`  cold round ${round + 1}/${opts.rounds}: ${p.tokens} tokens × ${COLD_REPEAT}  ${p.result.rps.toFixed(0)} rps  p50 ${p.result.p50.toFixed(2)} ms  p99 ${p.result.p99.toFixed(2)} ms  AS calls ${p.asCalls} (${p.callsPerToken.toFixed(4)}/token)  joins ${p.singleflightWaits}`);
    }

    const summary = summariseIntrospection(closed, calibration, passes, warmAsCalls);
    const warnings = [
      ...sideBySideWarnings(summary.throughput),
      ...introspectionWarnings(summary),
      ...(clipped ? [`ran out of minted opaque tokens (${nOpaque}): a cold pass was shorter than ${load.durationS} s`] : []),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'introspection',
      quick: opts.quick,
      flags: {
        throughput: { ...load, headers: redactHeaders(opaqueAuth, 'one opaque token (jwt-warm row: one JWT)') },
        cold: { connections: load.connections, repeat: COLD_REPEAT, minted: nOpaque, pass: 'exactly tokens × repeat requests (autocannon amount), every response awaited' },
        rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS, jwtAlg: opts.jwtAlg,
        portcullis: { workers: 1, 'verifier.pool_size': 1, 'verifier.cache_entries': 200_000, 'introspection.cache_ttl_s': 60 },
      },
      cpuPlan: { ...plan, note: `${plan.note}; authorization server on the loader's CPU` },
      peers: {},
      skipped,
      rounds: { throughput: closed, cold: { calibration, passes } },
      summary,
      warnings,
      table: introspectionTables(summary, skipped, load, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}

interface PassDeps {
  proxyPid: number;
  ownPids: readonly number[];
  as: { process: { pid: number }; counters(): Promise<{ introspection: number }> };
  adminPort: number;
  adminToken: string;
}

/** One cold pass of `tokens` fresh tokens × COLD_REPEAT requests; counts AS calls and Portcullis' single-flight joins around it. */
async function coldPass(url: string, load: LoadFlags, rotation: HeaderRotation, tokens: number, d: PassDeps): Promise<ColdPass> {
  const requests = tokens * COLD_REPEAT;
  const sent0 = rotation.sent;
  if (sent0 % COLD_REPEAT !== 0) throw new Error('cold pass must start on a token boundary');
  const calls0 = (await d.as.counters()).introspection;
  const waits0 = (await adminStats(d.adminPort, d.adminToken))['introspection.singleflight_waits'] ?? 0;
  const asCpu0 = cpuSeconds(d.as.process.pid);
  const result = await runAmount(url, { connections: load.connections, pipelining: 1, timeoutS: load.timeoutS, path: load.path, amount: requests }, { cpuPid: d.proxyPid, ownPids: d.ownPids }, rotation);
  const asCpu1 = cpuSeconds(d.as.process.pid);
  const asCalls = (await d.as.counters()).introspection - calls0;
  const waits = ((await adminStats(d.adminPort, d.adminToken))['introspection.singleflight_waits'] ?? 0) - waits0;
  if (rotation.sent - sent0 !== requests) throw new Error(`cold pass sent ${rotation.sent - sent0} requests, expected ${requests}`);
  return {
    tokens, requests, asCalls, callsPerToken: asCalls / tokens, singleflightWaits: waits, result,
    asCpuUsPerCall: asCpu0 !== undefined && asCpu1 !== undefined && asCalls > 0 ? ((asCpu1 - asCpu0) * 1e6) / asCalls : null,
  };
}
