// Scenario `forward-auth` (issue 15): the same token check in four shapes, side by side in one
// run on the same CPUs, one valid JWT repeated (warm):
//   nginx+portcullis  nginx auth_request → Portcullis's decision endpoint, no edge cache
//   nginx+validator   nginx auth_request → a minimal Node validator (jose), verdicts in proxy_cache
//   portcullis        Portcullis as the proxy (the same process as the decision endpoint)
//   haproxy           HAProxy 2.6 jwt_verify on every request
//   decision-only     the decision endpoint loaded directly (no edge): what one verdict costs Portcullis
//   nginx+zero        nginx auth_request → a bare uWS app answering 200 (no decision, no cache), on a
//                     unix socket like nginx+portcullis: the ceiling of any uncached auth service
//   uws-floor         that bare uWS app loaded directly: the floor of what a verdict can cost
//   decision-before   decision-only of another build (PORTCULLIS_BENCH_BASELINE=<built checkout>), same rounds,
//   decision-after    and of this build, each in a process of its own serving nothing else (like for
//                     like: the decision-only process also serves proxy mode and nginx, which changes its JIT and heap)
// nginx reaches Portcullis over a unix socket (server.decision.unix_socket), as deploy/edge/nginx.conf does.
// Before the load: every target refuses bad tokens, and a revocation at Portcullis is honoured
// through nginx+portcullis on the next request (the validator with a cache cannot honour one).
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuPlan } from './cpu-plan.js';
import { startHaproxy } from './haproxy.js';
import { DEFAULT_LOAD_FLAGS, type LoadFlags } from './load.js';
import { startNginxAuth } from './nginx.js';
import { zeroAuthPath } from './paths.js';
import { hasTaskset, jsonLine, pinPid, pinSelf, startProcess } from './processes.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { BASELINE_ENV, baselineCli, pairedCpuDiff } from './build-compare.bench.js';
import { closedLoopRounds, foldRounds, quietGate, ratioBasis, ratioTable, redactHeaders, rpsRatio, sideBySideWarnings, throughputTable, type LoadTarget, type RatioRow } from './side-by-side.js';
import type { LoadSummary } from './stats.js';
import { startPortcullis, startUpstreamProcess } from './targets.js';
import { haproxyJwtChecks, jwtRefusalProbes, publicKeyPem, refusalsMissed, startAuthServerProcess, startJwtValidatorProcess, tempFile, tokenConfigEnv, tokenConfigYaml, waitUntilServing } from './token-targets.js';
import { probe } from './targets.js';

export const FORWARD_AUTH_TARGETS = ['nginx+portcullis', 'nginx+validator', 'portcullis', 'haproxy', 'decision-only', 'nginx+zero', 'uws-floor', 'decision-after', 'decision-before'] as const;
/** proxy_cache lifetime of the validator's 200 verdicts, s: how long a revoked token keeps passing there. */
export const VALIDATOR_CACHE_TTL_S = 10;
const DECISION_PATH = '/_portcullis/auth';

export interface ForwardAuthSummary {
  throughput: Record<string, LoadSummary>;
  ratios: RatioRow[];
  /** Per target: did the next request after a revocation get 401? (null: not probed). */
  revocation: Record<string, boolean | null>;
  /** Median per-round CPU µs/req of decision-only minus uws-floor: what a verdict costs above a bare uWS answer. */
  cpuOverFloorUs: number | null;
  /** Median per-round CPU µs/req of decision-before minus decision-after: what this build saves per verdict. */
  cpuSavedUs: number | null;
}

/** Pure: rounds folded, ratios against the best peer and HAProxy. */
export function summariseForwardAuth(closed: Parameters<typeof foldRounds>[0], revocation: Record<string, boolean | null>): ForwardAuthSummary {
  return {
    throughput: foldRounds(closed),
    ratios: ([['nginx+portcullis', 'nginx+validator'], ['nginx+zero', 'nginx+validator'], ['nginx+portcullis', 'nginx+zero'], ['nginx+portcullis', 'haproxy'], ['nginx+portcullis', 'portcullis'], ['portcullis', 'haproxy'], ['decision-only', 'portcullis'], ['decision-after', 'decision-before']] as const)
      .filter(([a, b]) => closed[a] !== undefined && closed[b] !== undefined)
      .map(([a, b]) => [`${a} / ${b}`, rpsRatio(closed, a, b), ratioBasis(closed, a, b)] as const),
    cpuOverFloorUs: pairedCpuDiff(closed, 'decision-only', 'uws-floor'),
    cpuSavedUs: pairedCpuDiff(closed, 'decision-before', 'decision-after'),
    revocation,
  };
}

/** Pure: the printed tables. */
export function forwardAuthTables(s: ForwardAuthSummary, skipped: Record<string, string>, load: LoadFlags, alg: string, warnings: readonly string[]): string {
  const rev = (t: string): string => {
    const v = s.revocation[t];
    if (t === 'nginx+validator') return `no: the validator has no revocation, and its verdict is cached ${VALIDATOR_CACHE_TTL_S} s`;
    if (t === 'haproxy') return 'no: jwt_verify has no revocation';
    if (t === 'decision-only') return '(same process as portcullis)';
    if (t === 'nginx+zero' || t === 'uws-floor') return 'n/a: decides nothing (reference point)';
    if (t === 'decision-before' || t === 'decision-after') return '(decision-only twin, not probed)';
    return v === null || v === undefined ? 'not probed' : v ? 'yes: the next request after POST /revocations got 401' : 'NO: the next request still passed';
  };
  return [
    `**Throughput** — one ${alg} token repeated; closed loop, autocannon ${load.connections} connections, pipelining ${load.pipelining}, ${load.durationS} s (+${load.warmupS} s warmup) per round, medians of rounds. nginx (one worker), Portcullis (workers 1), the validator and HAProxy (nbthread 1) share the proxy CPU; CPU µs/req is the front process only (nginx: not its auth service); decision-only loads Portcullis's decision endpoint directly, so its CPU µs/req is what one verdict costs Portcullis.`,
    '', throughputTable(FORWARD_AUTH_TARGETS, s.throughput, skipped), '',
    ratioTable(s.ratios), '',
    `CPU µs per verdict above a bare uWS 200 (decision-only − uws-floor, median of per-round differences): ${s.cpuOverFloorUs === null ? 'not measured' : s.cpuOverFloorUs.toFixed(1)}` +
      (s.cpuSavedUs === null ? '' : `; saved against the other build (decision-before − decision-after): ${s.cpuSavedUs.toFixed(1)}`), '',
    '| target | revocation honoured |', '|---|---|',
    ...FORWARD_AUTH_TARGETS.map((t) => `| ${t} | ${rev(t)} |`),
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

/** Pure: the token config with the decision endpoint nginx calls, also on the unix socket `socket`. */
export function forwardAuthConfigYaml(tokenYaml: string, socket: string): string {
  return tokenYaml.replace('  workers: 1\n', `  workers: 1\n  decision: { endpoints: [{ path: ${DECISION_PATH}, dialect: nginx }], unix_socket: { path: ${JSON.stringify(socket)} } }\n`);
}

export async function forwardAuth(opts: ScenarioOptions): Promise<ScenarioReport> {
  const plan = cpuPlan(availableParallelism());
  const alg = opts.jwtAlg;
  const load: LoadFlags = { ...DEFAULT_LOAD_FLAGS, durationS: opts.durationS, warmupS: opts.quick ? 0.5 : 1 };
  const skipped: Record<string, string> = {};
  const peers: Record<string, string> = {};
  const stops: Array<() => Promise<void> | void> = [];
  let restoreAffinity = (): void => {};
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const [token, revokedToken] = await as.mint({ kind: 'jwt', alg, count: 2 });
    const probes = await jwtRefusalProbes(as, alg, token!);
    pinPid(as.process.pid, plan.loader);
    restoreAffinity = pinSelf(plan.loader);
    const auth = { authorization: `Bearer ${token}` };
    const upstream = await startUpstreamProcess(plan.upstream);
    stops.push(() => upstream.stop());

    // one Portcullis: proxy mode on / and the decision endpoint nginx calls (on a unix socket, as deploy/edge ships)
    const sockDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-fa-'));
    stops.push(() => rmSync(sockDir, { recursive: true, force: true }));
    const socket = join(sockDir, 'decision.sock');
    const { env, adminToken } = tokenConfigEnv();
    const yaml = forwardAuthConfigYaml(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: [alg], poolSize: 1, cacheEntries: 100_000 }), socket);
    const pc = await startPortcullis(yaml, plan.proxy, env);
    stops.push(() => pc.stop());
    const live: LoadTarget[] = [];

    const ngp = await startNginxAuth({ upstreamPort: upstream.port, authPort: 0, authSocket: socket, authPath: DECISION_PATH, cacheTtlS: 0 }, plan.proxy);
    if ('skipped' in ngp) skipped['nginx+portcullis'] = ngp.skipped;
    else { stops.push(() => ngp.stop()); live.push({ name: 'nginx+portcullis', url: ngp.url, pid: ngp.process.pid, headers: auth }); }

    const { process: validator, port: validatorPort } = await startJwtValidatorProcess(as, alg, plan.proxy);
    stops.push(() => validator.stop());
    const ngv = await startNginxAuth({ upstreamPort: upstream.port, authPort: validatorPort, authPath: '/verify', cacheTtlS: VALIDATOR_CACHE_TTL_S }, plan.proxy);
    if ('skipped' in ngv) skipped['nginx+validator'] = ngv.skipped;
    else { stops.push(() => ngv.stop()); live.push({ name: 'nginx+validator', url: ngv.url, pid: ngv.process.pid, headers: auth }); }

    live.push({ name: 'portcullis', url: pc.url, pid: pc.process.pid, headers: auth });
    const decisionHeaders = { ...auth, 'x-original-uri': '/', 'x-original-method': 'GET' };
    live.push({ name: 'decision-only', url: pc.url, pid: pc.process.pid, path: DECISION_PATH, headers: decisionHeaders });
    // reference points: an auth service that decides nothing, behind nginx (unix socket) and loaded directly
    const zeroSocket = join(sockDir, 'zero.sock');
    const zeroUnix = await startProcess({ name: 'zero-auth', command: process.execPath, args: [zeroAuthPath(), '--unix', zeroSocket], ready: jsonLine<{ unix: string }>((o) => typeof o.unix === 'string'), cpus: plan.proxy });
    stops.push(() => zeroUnix.process.stop());
    const ngz = await startNginxAuth({ upstreamPort: upstream.port, authPort: 0, authSocket: zeroSocket, authPath: DECISION_PATH, cacheTtlS: 0 }, plan.proxy);
    if ('skipped' in ngz) skipped['nginx+zero'] = ngz.skipped;
    else { stops.push(() => ngz.stop()); live.push({ name: 'nginx+zero', url: ngz.url, pid: ngz.process.pid, headers: auth }); }
    const zeroTcp = await startProcess({ name: 'zero-auth', command: process.execPath, args: [zeroAuthPath()], ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'), cpus: plan.proxy });
    stops.push(() => zeroTcp.process.stop());
    live.push({ name: 'uws-floor', url: `http://127.0.0.1:${zeroTcp.ready.port}`, pid: zeroTcp.process.pid, path: DECISION_PATH, headers: decisionHeaders });
    const baseline = process.env[BASELINE_ENV];
    if (baseline === undefined || baseline === '') {
      skipped['decision-before'] = skipped['decision-after'] = `set ${BASELINE_ENV}=<root of another built checkout> to compare`;
    } else {
      // same config without the socket (a build before it refuses the key), one process per build
      const twin = yaml.replace(/, unix_socket: \{[^}]*\}/, '');
      const pb = await startPortcullis(twin, plan.proxy, env, baselineCli());
      stops.push(() => pb.stop());
      const pa = await startPortcullis(twin, plan.proxy, env);
      stops.push(() => pa.stop());
      live.push({ name: 'decision-after', url: pa.url, pid: pa.process.pid, path: DECISION_PATH, headers: decisionHeaders });
      live.push({ name: 'decision-before', url: pb.url, pid: pb.process.pid, path: DECISION_PATH, headers: decisionHeaders });
    }
    const pem = tempFile(`${alg}.pem`, await publicKeyPem(as.jwksUri, alg));
    stops.push(() => pem.cleanup());
    const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: plan.proxy.length, cpus: plan.proxy, jwt: haproxyJwtChecks(pem.path, alg, as.issuer, true) });
    if (hp.skipped) skipped.haproxy = hp.reason;
    else { stops.push(() => hp.stop()); peers.haproxy = hp.version; live.push({ name: 'haproxy', url: hp.url, pid: hp.process.pid, headers: auth }); }

    for (const t of live) {
      // the reference rows decide nothing: they only have to answer 200
      if (t.name === 'nginx+zero') { await waitUntilServing(t.name, t.url + load.path, auth); continue; }
      if (t.name === 'decision-only' || t.name === 'uws-floor' || t.name === 'decision-before' || t.name === 'decision-after') {
        const d = await probe(t.url + DECISION_PATH, t.headers);
        if (d.status !== 200) throw new Error(`decision endpoint answered ${d.status} ${d.body.slice(0, 200)}`);
        continue;
      }
      await waitUntilServing(t.name, t.url + load.path, auth);
      const missed = await refusalsMissed(t.url + load.path, probes);
      if (missed.length > 0) throw new Error(`${t.name} did not refuse bad tokens as expected: ${missed.join('; ')}`);
    }
    // revocation: warm the token through nginx+portcullis, revoke at Portcullis, the next request must be refused
    const revocation: Record<string, boolean | null> = { 'nginx+portcullis': null, portcullis: null };
    const ngpTarget = live.find((t) => t.name === 'nginx+portcullis');
    if (ngpTarget !== undefined) {
      const h = { authorization: `Bearer ${revokedToken}` };
      await waitUntilServing('nginx+portcullis (revocation probe)', ngpTarget.url + load.path, h);
      const jti = (JSON.parse(Buffer.from(revokedToken!.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
      const r = await fetch(`http://127.0.0.1:${pc.adminPort}/revocations`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'jti', value: jti, reason: 'bench' }) });
      if (r.status !== 201) throw new Error(`POST /revocations: ${r.status} ${await r.text()}`);
      revocation['nginx+portcullis'] = (await probe(ngpTarget.url + load.path, h)).status === 401;
      revocation.portcullis = (await probe(pc.url + load.path, h)).status === 401;
    }

    const ownPids = [...new Set([...live.map((t) => t.pid), as.process.pid, pc.process.pid, validator.pid, upstream.process.pid, zeroUnix.process.pid])];
    const gate = quietGate(opts.quick ? 5 : 60);
    const closed = await closedLoopRounds(live, load, opts.rounds, ownPids, gate);
    const summary = summariseForwardAuth(closed, revocation);
    const warnings = [
      ...sideBySideWarnings(summary.throughput),
      ...Object.entries(revocation).filter(([, v]) => v === false).map(([t]) => `${t} let a revoked token through on the next request`),
      ...(hasTaskset() ? [] : ['taskset not found: processes were not pinned, the CPU split did not apply']),
    ];
    return {
      scenario: 'forward-auth', quick: opts.quick,
      flags: {
        alg, throughput: { ...load, headers: redactHeaders(auth, `one ${alg} token`) }, rounds: opts.rounds, order: 'rotated each round', quietWaitS: gate.waitedS,
        portcullis: { workers: 1, 'verifier.pool_size': 1, decision: DECISION_PATH, 'nginx → portcullis': 'unix socket (server.decision.unix_socket)' }, nginx: { worker_processes: 1, validatorCacheTtlS: VALIDATOR_CACHE_TTL_S }, haproxy: { nbthread: plan.proxy.length },
      },
      cpuPlan: plan, peers, skipped, rounds: { throughput: closed }, summary, warnings,
      table: forwardAuthTables(summary, skipped, load, alg, warnings),
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restoreAffinity();
  }
}
