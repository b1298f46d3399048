// Scenario `h2`: HTTP/2 side by side with h2load (Debian nghttp2-client), one warm JWT repeated.
// Targets, all over h2c with prior knowledge and all in front of the same h2c upstream process:
// `direct` (h2load → upstream), `node-http2-floor` (bench/h2-bare-proxy.ts: the bare node:http2
// relay, no auth — what any proxy on node:http2 costs), `portcullis` (server.http2 h2c → upstream
// protocol h2c, verified-token cache) and `haproxy` (HAProxy 2.6, `bind … proto h2`, `server …
// proto h2`, the jwt-warm jwt_verify rules on every request). Closed loop (clients × streams) and a
// fixed offered load (h2load --rps), rotated rounds; CPU µs per response of the hop and of the upstream.
import { availableParallelism } from 'node:os';
import { cpuPlan } from './cpu-plan.js';
import { startHaproxy } from './haproxy.js';
import { h2loadVersion, runH2load, type H2LoadFlags, type H2LoadResult } from './h2load.js';
import { h2RefusalsMissed, h2TokenConfigYaml, optionalBaselineCli, startBareH2ProxyProcess, startH2UpstreamProcess, startPortcullisH2, waitUntilServingH2 } from './h2-targets.js';
import { hasTaskset, pinPid, pinSelf } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { addedLatency, cpuMedians, foldRounds, quietGate, ratioBasis, ratioTable, redactHeaders, rpsRatio, sideBySideWarnings, type RatioRow } from './side-by-side.js';
import { median, pairedRatio, roundOrder, type LoadSummary } from './stats.js';
import { adminStats, counterDelta, haproxyJwtChecks, jwtRefusalProbes, publicKeyPem, startAuthServerProcess, tempFile, tokenConfigEnv, tokenCounters } from './token-targets.js';

/** The bare node:http2 relay (bench/h2-bare-proxy.ts) as its own process, pinned like Portcullis: the stack's floor. */
export const FLOOR = 'node-http2-floor';
export const H2_TARGETS = ['direct', FLOOR, 'portcullis', 'haproxy'] as const;
/** Added when $PORTCULLIS_BENCH_BASELINE names another build (optionalBaselineCli). */
export const BEFORE = 'portcullis-before';
/** Added with PORTCULLIS_BENCH_H2_NO_DEPRECATION=1: this build with NODE_OPTIONS=--no-deprecation. */
export const NO_DEPRECATION = 'portcullis-no-deprecation';

/** Closed loop: 10 connections × 10 streams in flight (100 requests), as a busy gRPC client pool would. */
export const H2_CLOSED_FLAGS: Omit<H2LoadFlags, 'durationS' | 'warmupS'> = { clients: 10, streams: 10, path: '/' };
/** Fixed offered load: 10 connections × 200 rps = 2000 rps (the HTTP/1.1 scenarios' rate). */
export const H2_FIXED_FLAGS: Omit<H2LoadFlags, 'durationS' | 'warmupS'> = { clients: 10, streams: 10, rpsPerClient: 200, path: '/' };

interface H2Target { name: string; url: string; pid: number }
type Rounds = Record<string, H2LoadResult[]>;

export interface H2Summary {
  throughput: Record<string, LoadSummary>;
  fixedRate: Record<string, LoadSummary>;
  /** Median CPU µs per response of the upstream process while each target was loaded. */
  upstreamCpu: { throughput: Record<string, number | null>; fixedRate: Record<string, number | null> };
  ratios: RatioRow[];
  added: Record<string, { p50: number | null; p99: number | null }>;
  /**
   * The same pairs as `ratios`, from CPU instead of rps: median over rounds of cost(b) / cost(a), cost
   * = the hop's CPU µs/req plus the upstream's when both share the proxy's core (the 2-core plan).
   * What one saturated core would serve of a relative to b; not moved by other processes' load.
   */
  cpuRatios: RatioRow[];
  /** Portcullis's CPU µs/req minus the floor's (medians over rounds), per load; null when either is missing. */
  aboveFloorCpu: { throughput: number | null; fixedRate: number | null };
}

const cpuOf = (s: Record<string, LoadSummary>, t: string): number | undefined => s[t]?.cpuUsPerReq;
const minus = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined ? null : a - b);

/** Pure: rounds folded into medians, the paired ratios and the latency each hop adds over direct. */
/** Pure: median over rounds of cost(b) / cost(a) (see H2Summary.cpuRatios); null when a round lacks a CPU figure. */
export function cpuCapacityRatio(m: Rounds, a: string, b: string, upstreamSharesCore: boolean): number | null {
  const cost = (t: string): number[] | undefined => m[t]?.map((r) => (r.cpuUsPerReqOf.hop ?? Number.NaN) + (upstreamSharesCore ? r.cpuUsPerReqOf.upstream ?? Number.NaN : 0));
  const ca = cost(a);
  const cb = cost(b);
  if (ca === undefined || cb === undefined || ca.some(Number.isNaN) || cb.some(Number.isNaN)) return null;
  return pairedRatio(cb, ca);
}

/** `upstreamSharesCore`: the upstream runs on the proxy's core (cpuPlan on 2 cores), so its CPU counts in cpuRatios. */
export function summariseH2(closed: Rounds, fixed: Rounds, upstreamSharesCore = true): H2Summary {
  const throughput = foldRounds(closed);
  const fixedRate = foldRounds(fixed);
  const floor = closed[FLOOR] !== undefined ? [[FLOOR, 'haproxy'] as const, ['portcullis', FLOOR] as const] : [];
  return {
    throughput, fixedRate,
    upstreamCpu: { throughput: cpuMedians(closed, 'upstream'), fixedRate: cpuMedians(fixed, 'upstream') },
    cpuRatios: [['portcullis', 'haproxy'] as const, ...floor]
      .map(([a, b]) => [`${a} / ${b}`, cpuCapacityRatio(closed, a, b, upstreamSharesCore)] as const),
    ratios: [...([['portcullis', 'haproxy'], ['portcullis', 'direct'], ['haproxy', 'direct']] as const), ...floor, ...(closed[BEFORE] !== undefined ? [['portcullis', BEFORE] as const, [BEFORE, 'haproxy'] as const] : []), ...(closed[NO_DEPRECATION] !== undefined ? [[NO_DEPRECATION, 'portcullis'] as const, [NO_DEPRECATION, 'haproxy'] as const] : [])]
      .map(([a, b]) => [`${a} / ${b}`, rpsRatio(closed, a, b), ratioBasis(closed, a, b)] as const),
    added: {
      portcullis: addedLatency(fixed, 'portcullis', 'direct'), haproxy: addedLatency(fixed, 'haproxy', 'direct'),
      ...(fixed[FLOOR] !== undefined ? { [FLOOR]: addedLatency(fixed, FLOOR, 'direct') } : {}),
      ...(fixed[BEFORE] !== undefined ? { [BEFORE]: addedLatency(fixed, BEFORE, 'direct') } : {}),
      ...(fixed[NO_DEPRECATION] !== undefined ? { [NO_DEPRECATION]: addedLatency(fixed, NO_DEPRECATION, 'direct') } : {}),
    },
    aboveFloorCpu: { throughput: minus(cpuOf(throughput, 'portcullis'), cpuOf(throughput, FLOOR)), fixedRate: minus(cpuOf(fixedRate, 'portcullis'), cpuOf(fixedRate, FLOOR)) },
  };
}

function table(all: readonly string[], s: Record<string, LoadSummary>, up: Record<string, number | null>, skipped: Record<string, string>, added?: H2Summary['added']): string {
  const head = ['target', 'rps', 'p50 ms', 'p99 ms', 'p99.9 ms', ...(added !== undefined ? ['added p50 ms', 'added p99 ms'] : []), 'errors + non-2xx', 'CPU µs/req hop', 'CPU µs/req upstream', 'foreign CPU'];
  const names = [...all, ...[BEFORE, NO_DEPRECATION].filter((t) => s[t] !== undefined)];
  return markdownTable(head, names.map((t) => {
    const x = s[t];
    if (x === undefined) return [t, `skipped: ${skipped[t] ?? 'not run'}`];
    const a = added === undefined ? [] : t === 'direct' ? ['(baseline)', '(baseline)'] : [cell(added[t]?.p50, 3), cell(added[t]?.p99, 3)];
    return [t, cell(x.rps, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.p999, 3), ...a, cell(x.errors + x.non2xx, 0), t === 'direct' ? '—' : cell(x.cpuUsPerReq, 1), cell(up[t], 1), cell(x.foreignCores)];
  }), head.map((_, i) => i > 0));
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function h2Tables(s: H2Summary, skipped: Record<string, string>, closed: H2LoadFlags, fixed: H2LoadFlags, alg: string, warnings: readonly string[] = []): string {
  const r = s.ratios.find((x) => x[0] === 'portcullis / haproxy')?.[1] ?? null;
  const f = s.ratios.find((x) => x[0] === `${FLOOR} / haproxy`)?.[1] ?? null;
  const fc = s.cpuRatios.find((x) => x[0] === `${FLOOR} / haproxy`)?.[1] ?? null;
  const rc = s.cpuRatios.find((x) => x[0] === 'portcullis / haproxy')?.[1] ?? null;
  const rate = (fixed.rpsPerClient ?? 0) * fixed.clients;
  const floorP99 = s.added[FLOOR]?.p99 ?? null;
  return [
    `**Throughput over HTTP/2** — one ${alg} token repeated; h2load, ${closed.clients} h2c connections × ${closed.streams} streams, ${closed.durationS} s (+${closed.warmupS} s warmup run) per round, medians of rounds. Every hop and the upstream speak h2c.`,
    '', table(H2_TARGETS, s.throughput, s.upstreamCpu.throughput, skipped), '',
    ratioTable(s.ratios), '',
    ratioTable(s.cpuRatios, 'ratio from CPU (hop + upstream µs/req on the shared core; median of per-round ratios; not moved by foreign load)'),
    '', `Target: portcullis / haproxy ≥ 0.70 over HTTP/2 → ${r === null ? 'not measured' : r >= 0.7 ? `met (${r.toFixed(2)})` : `NOT met (${r.toFixed(2)})`}${rc === null ? '' : `; from CPU ${rc.toFixed(2)}`}.`,
    ...(f === null ? [] : ['', `The stack: ${FLOOR} / haproxy = ${f.toFixed(2)} (from CPU ${cell(fc)}) — ${(fc ?? f) >= 0.7 ? 'the bare node:http2 relay reaches 0.70, so the gap to the target is ours' : 'even the bare node:http2 relay (no auth) stays below 0.70: the target is blocked by node:http2 on this machine'}${fc !== null && (fc >= 0.7) !== (f >= 0.7) ? ' (judged from CPU: the rps ratio disagrees, a sign of a disturbed run)' : ''}; Portcullis CPU above the floor ${cell(s.aboveFloorCpu.throughput, 1)} µs/req.`]),
    '',
    `**Added latency at a fixed offered load** — ${(fixed.rpsPerClient ?? 0) * fixed.clients} rps (h2load --rps ${fixed.rpsPerClient} × ${fixed.clients} connections), ${fixed.durationS} s per round; latency per request from h2load's log; added = median over rounds of (target − direct).`,
    '', table(H2_TARGETS, s.fixedRate, s.upstreamCpu.fixedRate, skipped, s.added),
    ...(floorP99 === null ? [] : ['', `The stack at ${rate} rps: ${FLOOR} adds p99 ${floorP99.toFixed(3)} ms (target for Portcullis ≤ 2 ms: ${floorP99 <= 2 ? 'within reach of node:http2' : 'node:http2 alone is already over it on this machine'}); Portcullis CPU above the floor ${cell(s.aboveFloorCpu.fixedRate, 1)} µs/req.`]),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

async function rounds(targets: readonly H2Target[], flags: H2LoadFlags, n: number, ctx: { upstreamPid: number; ownPids: readonly number[]; cpus: readonly number[]; gate: ReturnType<typeof quietGate> }, label: string): Promise<Rounds> {
  const out: Rounds = {};
  for (let round = 0; round < n; round++) {
    for (const t of roundOrder(targets, round)) {
      await ctx.gate.wait(ctx.ownPids);
      const watch: Record<string, number> = t.name === 'direct' ? { upstream: ctx.upstreamPid } : { hop: t.pid, upstream: ctx.upstreamPid };
      const r = await runH2load(t.url, flags, { cpus: ctx.cpus, watch, ownPids: ctx.ownPids });
      (out[t.name] ??= []).push(r);
      say(`  ${label} round ${round + 1}/${n} ${t.name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} rps  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  errors ${r.errors}  non-2xx ${r.non2xx}  CPU hop ${r.cpuUsPerReqOf.hop?.toFixed(1) ?? '—'} upstream ${r.cpuUsPerReqOf.upstream?.toFixed(1) ?? '?'} µs/req  foreign CPU ${r.foreignCores?.toFixed(2) ?? '?'}`);
    }
  }
  return out;
}

/** Run the scenario; every process it starts is stopped on the way out. Throws (naming h2load) when h2load is missing. */
export async function h2Bench(opts: ScenarioOptions): Promise<ScenarioReport> {
  const h2loadV = h2loadVersion();
  const plan = cpuPlan(availableParallelism());
  const alg = opts.jwtAlg;
  const warmupS = 1;
  const closedFlags: H2LoadFlags = { ...H2_CLOSED_FLAGS, durationS: opts.durationS, warmupS };
  const fixedFlags: H2LoadFlags = { ...H2_FIXED_FLAGS, durationS: opts.durationS, warmupS };
  const skipped: Record<string, string> = {};
  const peers: Record<string, string> = { h2load: h2loadV };
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token] = await as.mint({ kind: 'jwt', alg, count: 1 });
    const probes = await jwtRefusalProbes(as, alg, token!);
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);
    const auth = { authorization: `Bearer ${token}` };

    const upstream = await startH2UpstreamProcess('h2c', plan.upstream);
    stops.push(() => upstream.stop());
    const live: H2Target[] = [{ name: 'direct', url: upstream.url, pid: upstream.process.pid }];

    const { env, adminToken } = tokenConfigEnv();
    const pc = await startPortcullisH2(h2TokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg] }), plan.proxy, env);
    stops.push(() => pc.stop());
    live.push({ name: 'portcullis', url: pc.h2url, pid: pc.process.pid });
    const floor = await startBareH2ProxyProcess(upstream.port, plan.proxy);
    stops.push(() => floor.stop());
    live.push({ name: FLOOR, url: floor.url, pid: floor.process.pid });
    if (process.env.PORTCULLIS_BENCH_H2_NO_DEPRECATION === '1') {
      // Node 20's ClientHttp2Session.request() binds an AsyncResource per stream, which builds two
      // deprecated accessors (util.deprecate → setPrototypeOf); on Node 20.20 --no-deprecation does
      // not skip building them (checked when called), so this target measures only the noise
      const nd = await startPortcullisH2(h2TokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg] }), plan.proxy, { ...env, NODE_OPTIONS: '--no-deprecation' });
      stops.push(() => nd.stop());
      live.push({ name: NO_DEPRECATION, url: nd.h2url, pid: nd.process.pid });
    }
    const beforeCli = optionalBaselineCli();
    if (beforeCli !== null) {
      const pb = await startPortcullisH2(h2TokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg] }), plan.proxy, env, beforeCli);
      stops.push(() => pb.stop());
      live.push({ name: BEFORE, url: pb.h2url, pid: pb.process.pid });
      peers[BEFORE] = beforeCli;
    }

    const pem = tempFile(`${alg}.pem`, await publicKeyPem(as.jwksUri, alg));
    stops.push(() => pem.cleanup());
    const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: plan.proxy.length, cpus: plan.proxy, jwt: haproxyJwtChecks(pem.path, alg, as.issuer, true), proto: { bind: 'h2', server: 'h2' } });
    if (hp.skipped) skipped.haproxy = hp.reason;
    else {
      stops.push(() => hp.stop());
      peers.haproxy = hp.version;
      live.push({ name: 'haproxy', url: hp.url, pid: hp.process.pid });
    }

    // a proxy that let a bad token through would be benchmarked doing less than it claims
    for (const t of live) {
      await waitUntilServingH2(t.name, t.url + '/', auth);
      // the floor checks no token by design: it is what the stack costs, not a peer
      if (t.name === 'direct' || t.name === FLOOR) continue;
      const missed = await h2RefusalsMissed(t.url + '/', probes);
      if (missed.length > 0) throw new Error(`${t.name} did not refuse bad tokens over HTTP/2 as expected: ${missed.join('; ')}`);
    }

    const ownPids = [...new Set([...live.map((t) => t.pid), as.process.pid])];
    const gate = quietGate(opts.quick ? 5 : 60);
    const ctx = { upstreamPid: upstream.process.pid, ownPids, cpus: plan.loader, gate };
    const before = tokenCounters(await adminStats(pc.adminPort, adminToken));
    const closed = await rounds(live, { ...closedFlags, headers: auth }, opts.rounds, ctx, 'throughput');
    const fixed = await rounds(live, { ...fixedFlags, headers: auth }, opts.rounds, ctx, `${(fixedFlags.rpsPerClient ?? 0) * fixedFlags.clients} rps`);
    const counters = counterDelta(before, tokenCounters(await adminStats(pc.adminPort, adminToken)));
    const summary = summariseH2(closed, fixed, plan.upstream.some((c) => plan.proxy.includes(c)));
    const offered = (fixedFlags.rpsPerClient ?? 0) * fixedFlags.clients;
    const warnings = [
      ...sideBySideWarnings(summary.throughput, summary.fixedRate, offered),
      ...(counters.verifyOk > 0 ? [`Portcullis verified ${counters.verifyOk} times under load: the warm path was not all cache hits`] : []),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'h2',
      quick: opts.quick,
      flags: {
        alg, load: 'h2load', throughput: { ...closedFlags, headers: redactHeaders(auth, `one ${alg} token`) }, fixedRate: { ...fixedFlags, headers: redactHeaders(auth, `one ${alg} token`) },
        rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS, upstream: 'node:http2 h2c server answering 200 hello (bench/h2-upstream.ts), the same for all three',
        [FLOOR]: { process: 'node dist/bench/h2-bare-proxy.js', cpus: plan.proxy, auth: 'none', relay: 'core stream API → one h2c session.request() per stream, trailers relayed' },
        portcullis: { workers: 1, listener: 'server.http2 h2c', 'upstreams.app.protocol': 'h2c', 'verifier.pool_size': 1 },
        haproxy: { nbthread: plan.proxy.length, bind: 'proto h2', server: 'proto h2', matched: 'alg, jwt_verify, exp, iss, aud, scope, identity headers' },
      },
      cpuPlan: plan,
      peers,
      skipped,
      rounds: { throughput: closed, fixedRate: fixed },
      summary: { ...summary, portcullis: counters },
      warnings,
      table: h2Tables(summary, skipped, closedFlags, fixedFlags, alg, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
