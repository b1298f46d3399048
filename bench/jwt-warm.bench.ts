// Scenario `jwt-warm`: one valid token (RS256, or ES256 with PORTCULLIS_BENCH_JWT_ALG=ES256)
// repeated. Portcullis answers from its verified-token cache after the first request; HAProxy
// runs jwt_verify on every request (it has no cache). Same split, rounds and tables as
// passthrough: throughput (closed loop) and latency added at a fixed offered load.
// Targets: direct upstream, Portcullis, HAProxy with the same checks as the Portcullis route
// (`haproxy`), and HAProxy with signature + exp/iss/aud only (`haproxy-min`, throughput only).
import { availableParallelism } from 'node:os';
import { LOADER_ENV, loaderFromEnv, PEER_CONNECTIONS, PEER_TERMS_ENV, peerTermsFromEnv, PIPELINING_ENV, SYSCALL_REQUESTS, syscallTable, withPipelining, withXffMode, XFF_ENV } from './build-compare.bench.js';
import { cpuPlan, cpuPlanSpread } from './cpu-plan.js';
import { HAPROXY_FORWARDFOR_ENV, haproxyForwardforFromEnv, startHaproxy } from './haproxy.js';
import { DEFAULT_FIXED_RATE_FLAGS, DEFAULT_LOAD_FLAGS, runAmount, type FixedRateFlags, type LoadFlags } from './load.js';
import { startNginxAuth } from './nginx.js';
import { hasTaskset, pinPid, pinSelf } from './processes.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import {
  addedLatency, closedLoopRounds, fixedRateRounds, fixedRateTable, foldRounds, quietGate, ratioBasis, ratioTable, redactHeaders, rpsRatio,
  sideBySideWarnings, throughputTable, type LoadTarget, type RatioRow, type RoundResults,
} from './side-by-side.js';
import type { LoadSummary } from './stats.js';
import { countSyscalls, type SyscallCount } from './syscall-count.js';
import { PortcullisUnavailable, startPortcullis, startUpstreamProcess } from './targets.js';
import {
  adminMetricsCounters, adminStats, checksTable, counterDelta, haproxyJwtChecks, jwtRefusalProbes, publicKeyPem, refusalsMissed, startAuthServerProcess, startJwtValidatorProcess, tempFile,
  tokenConfigEnv, tokenConfigYaml, tokenCounters, waitUntilServing, type BenchJwtAlg, type RefusalProbe, type TokenCounters,
} from './token-targets.js';

export const WARM_TARGETS = ['direct', 'portcullis', 'haproxy', 'haproxy-min', 'nginx-cached'] as const;
/** How long nginx-cached keeps a validator's 200 verdict (s): longer than any run, so every measured request is a cache hit. */
export const NGINX_CACHE_TTL_S = 600;
/** haproxy-min is left out of the fixed-rate phase to keep the run under 3 minutes. */
export const WARM_FIXED_TARGETS = ['direct', 'portcullis', 'haproxy'] as const;

/**
 * PORTCULLIS_BENCH_TRACING=0,0.01,1 adds a Portcullis per sampling ratio with `tracing.enabled`
 * (target `portcullis-trace-<ratio>`, exporting to a cheap upstream process as its OTLP sink), run
 * in the same alternating rounds as `portcullis` (tracing off): the overhead of tracing. Unset: none.
 */
export function tracingRatios(env: string | undefined): number[] {
  if (env === undefined || env.trim() === '') return [];
  const ratios = env.split(',').map((x) => Number(x.trim()));
  if (ratios.some((r) => !Number.isFinite(r) || r < 0 || r > 1)) throw new Error(`PORTCULLIS_BENCH_TRACING: ratios between 0 and 1, comma-separated (got ${env})`);
  return ratios;
}

/** The tracing section of a traced bench target. */
export function tracingYaml(ratio: number, sinkPort: number): string {
  return `
tracing:
  enabled: true
  endpoint: http://127.0.0.1:${sinkPort}/v1/traces
  sample_ratio: ${ratio}
`;
}

export interface JwtWarmSummary {
  throughput: Record<string, LoadSummary>;
  fixedRate: Record<string, LoadSummary>;
  /** [label, value, rounds used]: quiet rounds only when there is one (see rpsRatio). */
  ratios: RatioRow[];
  added: Record<string, { p50: number | null; p99: number | null }>;
  portcullis: TokenCounters | null;
  /** Syscalls per request of each proxy (strace after the timed rounds), or why it was skipped. */
  syscalls?: Record<string, SyscallCount | string>;
}

/**
 * PORTCULLIS_BENCH_PIPELINING=N adds `portcullis-pipelining-N`: the same Portcullis with the opt-in
 * `upstreams.app.pipelining: N` (README "Upstream HTTP/1.1 pipelining"), in the same rounds as the
 * default `portcullis` — what the opt-in buys against the peers. Unset: none. Throws on a bad N.
 */
export function pipelinedTarget(env: string | undefined): string | null {
  if (env === undefined || env === '') return null;
  withPipelining('\n    targets: []\n', env);
  return `portcullis-pipelining-${env}`;
}

/** Pure: fold rounds into summaries, paired ratios and added latency (`pipelined`: the pipelining variant's target name, if run). */
export function summariseJwtWarm(closed: RoundResults, fixed: RoundResults, counters: TokenCounters | null, traced: readonly string[] = [], pipelined: string | null = null): JwtWarmSummary {
  const s: JwtWarmSummary = {
    throughput: foldRounds(closed),
    fixedRate: foldRounds(fixed),
    ratios: ([['portcullis', 'haproxy'], ['portcullis', 'haproxy-min'], ['portcullis', 'nginx-cached'], ['portcullis', 'direct'], ['haproxy', 'direct']] as const)
      .map(([a, b]) => [`${a} / ${b}`, rpsRatio(closed, a, b), ratioBasis(closed, a, b)] as const),
    added: { portcullis: addedLatency(fixed, 'portcullis', 'direct'), haproxy: addedLatency(fixed, 'haproxy', 'direct') },
    portcullis: counters,
  };
  for (const t of traced) {
    s.ratios.push([`${t} / portcullis`, rpsRatio(closed, t, 'portcullis'), ratioBasis(closed, t, 'portcullis')]);
    s.added[t] = addedLatency(fixed, t, 'direct');
  }
  if (pipelined !== null) {
    for (const b of ['nginx-cached', 'haproxy', 'portcullis']) s.ratios.push([`${pipelined} / ${b}`, rpsRatio(closed, pipelined, b), ratioBasis(closed, pipelined, b)]);
    s.added[pipelined] = addedLatency(fixed, pipelined, 'direct');
  }
  return s;
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function jwtWarmTables(s: JwtWarmSummary, skipped: Record<string, string>, load: LoadFlags, rate: FixedRateFlags, alg: BenchJwtAlg, warnings: readonly string[] = [], traced: readonly string[] = [], forwardfor = false, xff = ''): string {
  const c = s.portcullis;
  const cacheLine = c === null ? '' : `Portcullis under load (all rounds, warmups included): ${c.verifyOk} signature verification${c.verifyOk === 1 ? '' : 's'}, ${c.cacheHits} cache hits, ${c.cacheMisses} misses.`;
  return [
    `**Throughput** — one ${alg} token repeated; closed loop, ${load.loader === 'wrk' ? 'wrk -t2' : 'autocannon'} ${load.connections} connections, pipelining ${load.pipelining}, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds; CPU µs/req is the hop's process with every process below it (direct: the upstream itself).`,
    '', throughputTable([...WARM_TARGETS, ...traced], s.throughput, skipped), '',
    ratioTable(s.ratios),
    '',
    `**Added latency at a fixed offered load** — ${rate.rate} rps, ${rate.engine} engine (latency from each request's scheduled send), ${rate.durationS} s (+${rate.warmupS} s warmup) per round; added = median over rounds of (target − direct).`,
    '', fixedRateTable([...WARM_FIXED_TARGETS, ...traced], s.fixedRate, s.added, 'direct', skipped), '',
    ...(s.syscalls === undefined ? [] : ['**Syscalls per request** — every process of the proxy (workers, threads), strace attached after the timed rounds, one warm token:', '', syscallTable(s.syscalls), '']),
    '**What each side checks** (before the load, every target was probed with a tampered signature, an expired token, a wrong aud, a wrong iss — all 401 — and a token without the scope: 403, except haproxy-min, which does not check scope):',
    '', `nginx-cached: nginx (worker_processes as Portcullis' workers, the proxy CPUs) → auth_request to a Node validator (node:http + jose: signature, iss, aud, exp, scope; no revocation) on the same CPUs, its 200 verdicts cached by nginx ${NGINX_CACHE_TTL_S} s keyed by Authorization — the warm path is nginx alone; a revoked or newly expired token stays accepted until the entry expires (the peer's weakness, not copied). It replaces the four X-Auth-* identity headers; other client-sent X-Auth-* headers pass (Portcullis and HAProxy strip the prefix).`,
    '', peerWorkLine(forwardfor, xff),
    '', checksTable(alg, 'verified once on the pool, then cached until exp (max 10 min)'),
    ...(cacheLine === '' ? [] : ['', cacheLine]),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

/** Pure: which hop work each side does beyond the token — the X-Forwarded-For append differs unless the env switches match it (`xff`: Portcullis' mode from $PORTCULLIS_BENCH_XFF, '' = its default append). */
export function peerWorkLine(forwardfor: boolean, xff = ''): string {
  if (xff === 'off') {
    return forwardfor
      ? `**Unmatched work**: Portcullis forwards no X-Forwarded-For (${XFF_ENV}=off); HAProxy and nginx append it (${HAPROXY_FORWARDFOR_ENV}=1).`
      : `**Matched work without the client address** (${XFF_ENV}=off, ${HAPROXY_FORWARDFOR_ENV} unset): no proxy appends X-Forwarded-For — Portcullis \`x_forwarded_for: off\` (no getpeername), HAProxy and nginx at their defaults. All three: access log off, keep-alive to client and upstream, the same upstream process, the same connections. Left unmatched, on Portcullis' side: it also sets X-Forwarded-Proto and X-Forwarded-Host and strips client copies of every X-Forwarded-* header (its defaults).`;
  }
  return forwardfor
    ? `**Matched work** (${HAPROXY_FORWARDFOR_ENV}=1): every proxy appends X-Forwarded-For — Portcullis (default \`x_forwarded_for: append\`, one getpeername per request), HAProxy \`option forwardfor\`, nginx \`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for\`. All three: access log off, keep-alive to client and upstream, the same upstream process, the same connections. Left unmatched, on Portcullis' side: it also sets X-Forwarded-Proto and X-Forwarded-Host and strips client copies of every X-Forwarded-* header (its defaults).`
    : `**Unmatched work**: Portcullis appends X-Forwarded-For (its default, one getpeername per request); HAProxy and nginx do not (their defaults). ${HAPROXY_FORWARDFOR_ENV}=1 gives both peers the same work.`;
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Run the scenario; every process it starts is stopped on the way out. */
export async function jwtWarm(opts: ScenarioOptions): Promise<ScenarioReport> {
  // peer terms (issue 13's harness): every proxy on both CPUs with as many processes/threads — Portcullis
  // workers, HAProxy nbthread, nginx worker_processes — 64 connections, the loader from $PORTCULLIS_BENCH_LOADER
  const peer = peerTermsFromEnv();
  const plan = peer ? cpuPlanSpread(availableParallelism()) : cpuPlan(availableParallelism());
  const workers = peer ? plan.proxy.length : 1;
  const loader = loaderFromEnv();
  // matched work: the peers append X-Forwarded-For as Portcullis does by default
  const forwardfor = haproxyForwardforFromEnv();
  // Portcullis' own X-Forwarded-For mode ('' = its default append; off = the matched run without the client address)
  const xff = process.env[XFF_ENV] ?? '';
  withXffMode('\n  workers: 1\n', xff); // a bad value fails before anything starts
  const pipelining = process.env[PIPELINING_ENV] ?? '';
  const pipelined = pipelinedTarget(pipelining);
  const alg = opts.jwtAlg;
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1, ...(peer ? { connections: PEER_CONNECTIONS } : {}), ...(loader === 'wrk' ? { loader } : {}) };
  const rate: FixedRateFlags = { ...DEFAULT_FIXED_RATE_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 2 };
  const skipped: Record<string, string> = {};
  const peers: Record<string, string> = {};
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token] = await as.mint({ kind: 'jwt', alg, count: 1 });
    const probes: RefusalProbe[] = await jwtRefusalProbes(as, alg, token!);
    // the AS only serves discovery and JWKS at start; it idles on the loader's CPU
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);
    const auth = { authorization: `Bearer ${token}` };

    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());
    const live: LoadTarget[] = [{ name: 'direct', url: upstream.url, pid: upstream.process.pid, headers: auth }];

    let pc: Awaited<ReturnType<typeof startPortcullis>> | null = null;
    const { env, adminToken } = tokenConfigEnv();
    const traced: string[] = [];
    const ratios = tracingRatios(process.env.PORTCULLIS_BENCH_TRACING);
    if (ratios.length > 0) {
      // the OTLP sink: answers every export 200 on the upstream's CPU
      const sink = await startUpstreamProcess(plan.upstream);
      stops.push(() => sink.stop());
      for (const ratio of ratios) {
        const name = `portcullis-trace-${ratio}`;
        const yaml = tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg], poolSize: 1, cacheEntries: 100_000, workers }) + tracingYaml(ratio, sink.port);
        const tp = await startPortcullis(yaml, plan.proxy, env);
        stops.push(() => tp.stop());
        live.push({ name, url: tp.url, pid: tp.process.pid, headers: auth });
        traced.push(name);
      }
    }
    try {
      pc = await startPortcullis(withXffMode(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg], poolSize: 1, cacheEntries: 100_000, workers }), xff), plan.proxy, env);
      stops.push(() => pc!.stop());
      live.push({ name: 'portcullis', url: pc.url, pid: pc.process.pid, headers: auth });
      if (pipelined !== null) {
        const pp = await startPortcullis(withPipelining(withXffMode(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg], poolSize: 1, cacheEntries: 100_000, workers }), xff), pipelining), plan.proxy, env);
        stops.push(() => pp.stop());
        live.push({ name: pipelined, url: pp.url, pid: pp.process.pid, headers: auth });
      }
    } catch (err) {
      if (!(err instanceof PortcullisUnavailable)) throw err;
      skipped.portcullis = err.message;
      say(`skip portcullis: ${err.message}`);
    }

    // issue 13's best peer: nginx + auth_request + proxy_cache in front of a validator
    const { process: validator, port: validatorPort } = await startJwtValidatorProcess(as, alg, plan.proxy);
    stops.push(() => validator.stop());
    const ngc = await startNginxAuth({ upstreamPort: upstream.port, authPort: validatorPort, authPath: '/verify', cacheTtlS: NGINX_CACHE_TTL_S, workers, forwardfor }, plan.proxy);
    if ('skipped' in ngc) skipped['nginx-cached'] = ngc.skipped;
    else { stops.push(() => ngc.stop()); live.push({ name: 'nginx-cached', url: ngc.url, pid: ngc.process.pid, headers: auth }); }

    const pem = tempFile(`${alg}.pem`, await publicKeyPem(as.jwksUri, alg));
    stops.push(() => pem.cleanup());
    for (const [name, full] of [['haproxy', true], ['haproxy-min', false]] as const) {
      const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: plan.proxy.length, cpus: plan.proxy, forwardfor, jwt: haproxyJwtChecks(pem.path, alg, as.issuer, full) });
      if (hp.skipped) { skipped[name] = hp.reason; continue; }
      stops.push(() => hp.stop());
      peers.haproxy = hp.version;
      live.push({ name, url: hp.url, pid: hp.process.pid, headers: auth });
    }

    // a proxy that let a bad token through would be benchmarked doing less than it claims
    for (const t of live) {
      await waitUntilServing(t.name, t.url + load.path, auth);
      if (t.name === 'direct') continue;
      const missed = await refusalsMissed(t.url + load.path, probes, new Set(t.name === 'haproxy-min' ? ['missing scope'] : []));
      if (missed.length > 0) throw new Error(`${t.name} did not refuse bad tokens as expected: ${missed.join('; ')}`);
    }

    const ownPids = [...new Set([...live.map((t) => t.pid), as.process.pid, validator.pid])];
    // a --workers primary has no /cache/stats: its counters come summed over the workers from /metrics
    const readCounters = async (p: { adminPort: number }): Promise<TokenCounters> => workers > 1 ? adminMetricsCounters(p.adminPort, adminToken) : tokenCounters(await adminStats(p.adminPort, adminToken));
    const before = pc !== null ? await readCounters(pc) : null;
    const gate = quietGate(opts.quick ? 5 : 60);
    const closed = await closedLoopRounds(live, load, opts.rounds, ownPids, gate);
    const extra = pipelined === null ? traced : [...traced, pipelined];
    const fixed = await fixedRateRounds(live.filter((t) => (WARM_FIXED_TARGETS as readonly string[]).includes(t.name) || extra.includes(t.name)), rate, opts.rounds, ownPids, gate);
    const counters = pc !== null && before !== null ? counterDelta(before, await readCounters(pc)) : null;
    const summary = summariseJwtWarm(closed, fixed, counters, traced, pipelined);
    // after the timed rounds (strace slows what it watches): syscalls per warm request, load-independent
    summary.syscalls = {};
    for (const t of live) {
      if (t.name === 'direct' || traced.includes(t.name)) continue;
      const c = await countSyscalls(t.pid, async () => (await runAmount(t.url, { connections: load.connections, pipelining: 1, timeoutS: load.timeoutS, path: load.path, headers: auth, amount: SYSCALL_REQUESTS })).requests);
      summary.syscalls[t.name] = c;
      say(`  syscalls ${t.name.padEnd(12)} ${typeof c === 'string' ? `skipped: ${c}` : `${c.perRequest.toFixed(2)} per request (${Object.entries(c.bySyscall).map(([k, v]) => `${k} ${v}`).join(', ')}; set up in the count: ${c.setUp.accepts} accept, ${c.setUp.connects} connect calls)`}`);
    }
    const warnings = [
      ...sideBySideWarnings(summary.throughput, summary.fixedRate, rate.rate),
      ...(counters !== null && counters.verifyOk > 0 ? [`Portcullis verified ${counters.verifyOk} times under load: the warm path was not all cache hits`] : []),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'jwt-warm',
      quick: opts.quick,
      flags: {
        alg, throughput: { ...load, headers: redactHeaders(auth, `one ${alg} token`) }, fixedRate: { ...rate, headers: redactHeaders(auth, `one ${alg} token`) },
        rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS, ...(peer ? { peerTerms: `${PEER_TERMS_ENV}=1: Portcullis workers, HAProxy nbthread and nginx worker_processes ${workers}`, loader: `${LOADER_ENV}=${loader}` } : {}),
        portcullis: { workers, 'verifier.pool_size': 1, 'verifier.cache_entries': 100_000, ...(pipelined !== null ? { pipelining: `${pipelined}: upstreams.app.pipelining ${pipelining} (${PIPELINING_ENV}); portcullis: off (the default)` } : {}), ...(traced.length > 0 ? { tracing: `${traced.join(', ')}: tracing.enabled, sample_ratio as named, OTLP sink = a cheap upstream process` } : {}) },
        haproxy: { nbthread: plan.proxy.length, matched: 'alg, jwt_verify, exp, iss, aud, scope, identity headers', min: 'alg, jwt_verify, exp, iss, aud', forwardfor },
        nginx: { worker_processes: workers, forwardfor, cacheKey: '$http_authorization', cacheTtlS: NGINX_CACHE_TTL_S },
      },
      cpuPlan: plan,
      peers,
      skipped,
      rounds: { throughput: closed, fixedRate: fixed },
      summary,
      warnings,
      table: jwtWarmTables(summary, skipped, load, rate, alg, warnings, extra, forwardfor, xff),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
