// Scenario `revocation-propagation` (DESIGN §6: publish → enforcement on every instance,
// p99 ≤ 5 ms on loopback). Three Portcullis members on one nats-server, each under a fixed
// background load with a warm token. Then, paced, for each of N fresh tokens: warm it at all
// three, start one back-to-back prober per member with it, revoke it by jti at one member (the
// origin rotates), and record when each prober sees its first 401 — counted from the moment
// the bench sent `POST /revocations`, on one host's clock, nothing subtracted. Beside it, the
// members' own publish → applied histogram (portcullis_revocation_propagation_seconds in /metrics, read back in ms).
// And the floor: an otherwise idle subscriber process (bus-observer-process.ts) timing each
// message's arrival — a member whose apply matches it loses nothing to its own event loop.
// CPU: no pinning — the three members, nats-server, the AS, the upstream, the load process and
// the prober share every core (2 on the reference machine); the foreign-CPU column says how
// busy the rest of the machine was. PORTCULLIS_BENCH_SCHED (bench/sched-priority.ts) re-prioritises
// roles for the window, e.g. `observer=fifo:10,nats=fifo:10`; the table names what ran.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { Client } from 'undici';
import { BusAuth, Codec, subjects } from '../cluster/protocol/index.js';
import { BENCH_BUS_KEY, BUS_KEY_ENV, clusterMetrics, jtiOf, memberConfigYaml, revokeAt, startClusterPeers, startMembers, waitMembership, waitReady, type Member } from './cluster-targets.js';
import type { CpuPlan } from './cpu-plan.js';
import { parseLoopDelay } from './loop-delay-preload.js';
import { natsServerBin } from './nats-process.js';
import { parsePacedLoadReport, type PacedLoadSpec } from './paced-load-process.js';
import { baselineCli } from './build-compare.bench.js';
import { compiledRoot } from './paths.js';
import { cpuSeconds, startProcess, watchForeignCpu } from './processes.js';
import { cell } from './results.js';
import { parseBusObserverReport } from './bus-observer-process.js';
import { applySched, parseSchedSpec, schedLabel, type SchedRole } from './sched-priority.js';
import {
  breakdown, CHECKS_AFTER, DEFAULT_PROPAGATION_FLAGS, envInt, GIVE_UP_MS, MEMBER_IDS, mergeHistograms, PROBE_PATH, propagationTables, proxyHistogram, quantiles, summariseProber,
  type PropagationFlags, type PropagationSample, type PropagationSummary,
} from './revocation-propagation-report.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { runTokenList } from './token-list-load.js';
import { waitUntilServing } from './token-targets.js';

// The pure half lives in revocation-propagation-report.ts; importers keep this path.
export * from './revocation-propagation-report.js';

const say = (s: string): void => { process.stdout.write(s + '\n'); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET `path` with the token: the status, with 401s that are not revocations reported as 0 (unexpected). */
async function get(c: Client, path: string, token: string): Promise<number> {
  const r = await c.request({ path, method: 'GET', headers: { authorization: `Bearer ${token}` } });
  await r.body.dump();
  if (r.statusCode === 401 && !/revoked/.test(String(r.headers['www-authenticate'] ?? ''))) return 0;
  return r.statusCode;
}

interface ProbeOutcome { refusedAt: number | null; acceptedAfter: number; unexpected: number[]; rtts: number[] }
interface Prober { started: Promise<void>; done: Promise<ProbeOutcome> }

/**
 * Ask `c` with `token` on the probe route until the revocation refusal (401) or `giveUpAt`:
 * one request at a time, the next one `intervalMs` after the previous was sent (0: back to
 * back); then CHECKS_AFTER more (a 403 there means the revoked token got past the revocation
 * check again). `started` resolves after the first answer (403: valid token, scope missing).
 */
function probe(c: Client, token: string, giveUpAt: () => number, intervalMs: number): Prober {
  let startedResolve!: () => void;
  const started = new Promise<void>((r) => { startedResolve = r; });
  const done = (async (): Promise<ProbeOutcome> => {
    const unexpected: number[] = [];
    const rtts: number[] = [];
    let refusedAt: number | null = null;
    let first = true;
    for (;;) {
      const sent = performance.now();
      const status = await get(c, PROBE_PATH, token);
      const at = performance.now();
      rtts.push(at - sent);
      if (first) { first = false; startedResolve(); }
      if (status === 401) { refusedAt = at; break; }
      if (status !== 403) unexpected.push(status);
      if (at > giveUpAt()) break;
      const wait = sent + intervalMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    let acceptedAfter = 0;
    if (refusedAt !== null) for (let i = 0; i < CHECKS_AFTER; i++) if ((await get(c, PROBE_PATH, token)) !== 401) acceptedAfter++;
    return { refusedAt, acceptedAfter, unexpected, rtts };
  })();
  done.catch(() => startedResolve());
  return { started, done };
}

/** `PORTCULLIS_BENCH_REVOCATION_RECEIVER`: main (default) or thread. */
function receiverFromEnv(): 'main' | 'thread' {
  const v = process.env.PORTCULLIS_BENCH_REVOCATION_RECEIVER ?? 'main';
  if (v !== 'main' && v !== 'thread') throw new Error(`PORTCULLIS_BENCH_REVOCATION_RECEIVER: main or thread, not ${JSON.stringify(v)}`);
  return v;
}

/** Wait until every member's receiver thread is connected to NATS (so the first revocations measure the thread, not its start). */
async function waitReceiverThreads(members: readonly Member[], adminToken: string): Promise<void> {
  const until = performance.now() + 15_000;
  while ((await Promise.all(members.map((m) => clusterMetrics(m, adminToken)))).some((x) => (x.revocation_receiver_connected ?? 0) < 1)) {
    if (performance.now() > until) throw new Error('receiver thread: members not connected within 15 s');
    await sleep(100);
  }
}

/** Wait until every member holds a direct push connection to each of `n` peers. */
async function waitDirectPeers(members: readonly Member[], adminToken: string, n: number): Promise<void> {
  const until = performance.now() + 15_000;
  while ((await Promise.all(members.map((m) => clusterMetrics(m, adminToken)))).some((x) => (x.revocation_direct_peers_connected ?? 0) < n)) {
    if (performance.now() > until) throw new Error(`direct push: members not connected to ${n} peers within 15 s`);
    await sleep(50);
  }
}

/** Signal the end of the loop-delay window and read each member's line for it (null when it did not come within 2 s). */
async function endLoopDelayWindow(members: readonly Member[]): Promise<PropagationSummary['loopDelay']> {
  const lines = (m: Member): number => m.process.output().split('\n').filter((l) => l.startsWith('{"loopDelay"')).length;
  const want = members.map((m) => lines(m) + 1);
  for (const m of members) m.process.proc.kill('SIGUSR2');
  const until = performance.now() + 2_000;
  while (members.some((m, i) => lines(m) < want[i]!) && performance.now() < until) await sleep(20);
  return members.map((m, i) => {
    const d = lines(m) >= want[i]! ? parseLoopDelay(m.process.output()) : null;
    return d === null ? null : { member: m.id, ...d };
  });
}

/**
 * Run the scenario: start nats-server, AS, upstream, three members and the background load; revoke N tokens; stop everything.
 * `PORTCULLIS_BENCH_REVOCATION_DIRECT=1` (or `direct`) runs the members with `cluster.revocation.direct`;
 * `PORTCULLIS_BENCH_REVOCATION_RECEIVER=thread|main` (or `receiver`) sets `cluster.revocation.receiver` (default main).
 */
export async function revocationPropagation(opts: ScenarioOptions, direct = process.env.PORTCULLIS_BENCH_REVOCATION_DIRECT === '1', receiver = receiverFromEnv()): Promise<ScenarioReport> {
  const sched = parseSchedSpec(process.env.PORTCULLIS_BENCH_SCHED);
  const f: PropagationFlags = {
    ...DEFAULT_PROPAGATION_FLAGS,
    direct,
    receiver,
    sched: schedLabel(sched),
    revocations: envInt('PORTCULLIS_BENCH_REVOCATIONS', 1) ?? (opts.quick ? 20 : DEFAULT_PROPAGATION_FLAGS.revocations),
    ratePerMember: envInt('PORTCULLIS_BENCH_CLUSTER_RATE', 0) ?? DEFAULT_PROPAGATION_FLAGS.ratePerMember,
    probeIntervalMs: envInt('PORTCULLIS_BENCH_PROBE_INTERVAL_MS', 0) ?? DEFAULT_PROPAGATION_FLAGS.probeIntervalMs,
    warmupRequestsPerMember: opts.quick ? 1_000 : DEFAULT_PROPAGATION_FLAGS.warmupRequestsPerMember,
    // PORTCULLIS_BENCH_REVOCATION_BUILD=baseline: the members run $PORTCULLIS_BENCH_BASELINE's CLI (before/after in alternating runs; the bench side stays this build's)
    build: process.env.PORTCULLIS_BENCH_REVOCATION_BUILD === 'baseline' ? 'baseline' : 'this',
  };
  const cli = f.build === 'baseline' ? baselineCli() : undefined;
  const plan: CpuPlan = { loader: [], upstream: [], proxy: [], note: 'no pinning: 3 members, nats-server, AS, upstream, background-load process and the prober (bench process) share every core' };
  const bin = natsServerBin();
  if (bin === undefined) throw new Error('revocation-propagation needs nats-server: apt-get install -y nats-server');
  const stops: Array<() => Promise<void>> = [];
  const clients: Client[] = [];
  const admins: Client[] = [];
  let observer: NatsConnection | null = null;
  try {
    const { nats, as, upstream, env, adminToken, prefix } = await startClusterPeers(stops);
    const preload = join(compiledRoot(), 'bench', 'loop-delay-preload.js');
    const memberEnv = { ...env, PORTCULLIS_BENCH_LOOP_DELAY_PRELOAD: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim() };
    const members = await startMembers(MEMBER_IDS, (id) => memberConfigYaml({
      upstreamPort: upstream.port, issuer: as.issuer, algorithms: [f.alg], probeRoute: true, cluster: { natsUrl: nats.url, prefix, memberId: id, direct: f.direct, receiver: f.receiver },
    }), memberEnv, undefined, cli);
    for (const m of members) stops.push(() => m.stop());
    await Promise.all(members.map((m) => waitReady(m)));
    await waitMembership(members, adminToken, members.length);
    if (f.direct) await waitDirectPeers(members, adminToken, members.length - 1);
    if (f.receiver === 'thread') await waitReceiverThreads(members, adminToken);

    const [loadToken, ...tokens] = await as.mint({ kind: 'jwt', alg: f.alg, count: f.revocations + 1 });
    for (const m of members) await waitUntilServing(m.id, m.url + '/', { authorization: `Bearer ${loadToken!}` });
    for (const m of members) clients.push(new Client(m.url, { pipelining: 1, keepAliveTimeout: 60_000 }));
    for (const m of members) admins.push(new Client(`http://127.0.0.1:${m.adminPort}`, { pipelining: 1, keepAliveTimeout: 60_000 }));
    for (const a of admins) await (await a.request({ path: '/healthz', method: 'GET' })).body.dump(); // connected before the first POST

    say(`  warmup: ${f.warmupRequestsPerMember} requests per member`);
    await Promise.all(members.map((m) => runTokenList(m.url, [loadToken!], { connections: 8, repeat: f.warmupRequestsPerMember, path: '/', prefix: 'Bearer ', timeoutS: 10 })));
    const spec: PacedLoadSpec = { urls: members.map((m) => m.url), rate: f.ratePerMember, path: '/', headers: { authorization: `Bearer ${loadToken!}` }, connections: f.loadConnections };
    const { process: loader } = await startProcess({
      name: 'paced-load', command: process.execPath, args: [join(compiledRoot(), 'bench', 'paced-load-process.js'), JSON.stringify(spec)],
      ready: (line) => (line.includes('"ready":true') ? true : undefined),
    });
    let loaderStopped = false;
    const stopLoader = async (): Promise<void> => { if (!loaderStopped) { loaderStopped = true; await loader.stop(); } };
    stops.push(stopLoader);
    await sleep(opts.quick ? 500 : 2_000); // the load's own connections and JIT settle

    // The bus observer: when the live message reaches a plain subscriber, and the origin's stamp inside it.
    const codec = new Codec();
    const auth = new BusAuth({ key: Buffer.from(BENCH_BUS_KEY, 'utf8') });
    const observed = new Map<string, { at: number; publishedAt: number }>();
    observer = await natsConnect({ servers: nats.url, name: 'bench observer' });
    observer.subscribe(subjects(prefix).revocationsAll, {
      callback: (err, m) => {
        if (err !== null) return;
        const at = performance.now();
        const opened = auth.open(m.subject, m.data, false);
        const msg = opened.ok ? codec.decode(opened.payload) : null;
        if (msg?.type === 'revocation.added' && !observed.has(msg.value)) observed.set(msg.value, { at, publishedAt: msg.publishedAt });
      },
    });
    await observer.flush();

    // The same, in a process of its own with nothing else to do: the floor for any receiver here.
    const { process: idle } = await startProcess({
      name: 'bus-observer', command: process.execPath, args: [join(compiledRoot(), 'bench', 'bus-observer-process.js'), JSON.stringify({ url: nats.url, subject: subjects(prefix).revocationsAll, keyEnv: BUS_KEY_ENV })],
      env: { [BUS_KEY_ENV]: BENCH_BUS_KEY }, ready: (line) => (line.includes('"ready":true') ? true : undefined),
    });
    stops.push(() => idle.stop());

    // Priorities (PORTCULLIS_BENCH_SCHED) from here on: the warmup ran at the default.
    const byRole: Record<SchedRole, number[]> = {
      observer: [idle.pid], nats: [nats.process.pid], members: members.map((m) => m.process.pid), load: [loader.pid], upstream: [upstream.process.pid], as: [as.process.pid], bench: [process.pid],
    };
    for (const [role, policy] of sched) for (const pid of byRole[role]) applySched(pid, policy);
    const ownPids = [nats.process.pid, as.process.pid, upstream.process.pid, loader.pid, idle.pid, ...members.map((m) => m.process.pid)];
    const before = await Promise.all(members.map((m) => clusterMetrics(m, adminToken)));
    for (const m of members) m.process.proc.kill('SIGUSR2'); // loop-delay window starts now (the line it prints covers the warmup)
    const foreign = watchForeignCpu(ownPids);
    const cpu0 = members.map((m) => cpuSeconds(m.process.pid));
    const window0 = performance.now();
    const samples: PropagationSample[] = [];
    const sentAt: Array<{ jti: string; t0: number }> = [];
    const unexpected: number[] = [];
    const proberRtts: number[] = [];
    for (let i = 0; i < f.revocations; i++) {
      const token = tokens[i]!;
      for (const c of clients) {
        const s = await get(c, '/', token);
        if (s !== 200) throw new Error(`fresh token answered ${s} before its revocation (warm step)`);
      }
      let t0 = Number.POSITIVE_INFINITY;
      const probers = clients.map((c) => probe(c, token, () => t0 + GIVE_UP_MS, f.probeIntervalMs));
      await Promise.all(probers.map((p) => p.started));
      const origin = i % members.length;
      t0 = performance.now();
      const jti = jtiOf(token);
      const post = await revokeAt(admins[origin]!, adminToken, { kind: 'jti', value: jti, reason: 'bench' });
      if (post.status !== 201) throw new Error(`POST /revocations at ${members[origin]!.id} answered ${post.status}`);
      const res = await Promise.all(probers.map((p) => p.done));
      unexpected.push(...res.flatMap((r) => r.unexpected));
      for (const r of res) for (const x of r.rtts) proberRtts.push(x);
      const ob = observed.get(jti);
      sentAt.push({ jti, t0 });
      samples.push({
        origin, postMs: post.answeredAt - t0, refusedMs: res.map((r) => (r.refusedAt === null ? null : r.refusedAt - t0)), acceptedAfter: res.map((r) => r.acceptedAfter),
        publishedMs: ob === undefined ? null : ob.publishedAt - (performance.timeOrigin + t0), observedMs: ob === undefined ? null : ob.at - t0,
      });
      if ((i + 1) % 50 === 0 || i + 1 === f.revocations) {
        const last = samples.slice(-50);
        const sl = quantiles(last.map((s) => (s.refusedMs.some((x) => x === null) ? null : Math.max(...(s.refusedMs as number[])))));
        say(`  ${i + 1}/${f.revocations} revocations  slowest member (last ${last.length}): p50 ${cell(sl.p50, 3)} ms  p99 ${cell(sl.p99, 3)} ms  max ${cell(sl.max, 3)} ms`);
      }
      await sleep(f.gapMs + Math.random() * f.gapJitterMs);
    }
    const foreignCores = foreign() ?? null;
    const cpu1 = members.map((m) => cpuSeconds(m.process.pid));
    const windowS = (performance.now() - window0) / 1000;
    // responses in the window: the paced load (offered rate; the warnings say when it was not reached), the probes and the warm steps
    const responses = members.length * f.ratePerMember * windowS + proberRtts.length + members.length * f.revocations;
    const cpuS = cpu0.every((x) => x !== undefined) && cpu1.every((x) => x !== undefined) ? cpu1.reduce((n, x, i) => n + x! - cpu0[i]!, 0) : null;
    const memberCpuUsPerRequest = cpuS === null ? null : (cpuS * 1e6) / responses;
    const loopDelay = await endLoopDelayWindow(members);
    const after = await Promise.all(members.map((m) => clusterMetrics(m, adminToken)));
    await stopLoader();
    const load = parsePacedLoadReport(loader.output());
    await idle.stop();
    const arrivals = parseBusObserverReport(idle.output());
    for (const [i, s] of samples.entries()) {
      const at = arrivals?.get(sentAt[i]!.jti);
      s.idleObservedMs = at === undefined ? null : at - (performance.timeOrigin + sentAt[i]!.t0);
    }

    const proxies = members.map((m, i) => proxyHistogram(m.id, before[i]!, after[i]!));
    const delta = (k: string): number => after.reduce((n, a, i) => n + (a[k] ?? 0) - (before[i]![k] ?? 0), 0);
    const firstArrivals = { live: delta('revocations_first_live_total'), direct: delta('revocations_first_direct_total'), thread: delta('revocations_first_thread_total') };
    const visible = members.map((m, i) => proxyHistogram(m.id, before[i]!, after[i]!, 'revocation_visible_ms'));
    const summary: PropagationSummary = {
      prober: summariseProber(samples), proberRtt: quantiles(proberRtts), breakdown: breakdown(samples), proxies, proxiesMerged: mergeHistograms(proxies), load, loopDelay, foreignCores, firstArrivals,
      visible, visibleMerged: mergeHistograms(visible), memberCpuUsPerRequest,
      receiverThreadCpuUsPerRequest: f.receiver === 'thread' ? (delta('revocation_receiver_cpu_seconds_total') * 1e6) / responses : null,
    };
    const warnings: string[] = [];
    if (foreignCores !== null && foreignCores > 0.1) warnings.push(`other processes used ${foreignCores.toFixed(2)} cores during the measurement: the machine was shared, tails are disturbed`);
    if (summary.prober.notRefused > 0) warnings.push(`${summary.prober.notRefused} member(s) still accepted a revoked token ${GIVE_UP_MS} ms after the POST`);
    if (summary.prober.acceptedAfterRefusal > 0) warnings.push(`${summary.prober.acceptedAfterRefusal} request(s) with a revoked token were accepted after the member had refused it`);
    if (unexpected.length > 0) warnings.push(`probers got ${unexpected.length} answers other than 403/401 revoked (${[...new Set(unexpected)].join(', ')})`);
    if (load !== null) for (const [i, t] of load.targets.entries()) {
      if (t.non2xx + t.errors > 0) warnings.push(`background load at ${MEMBER_IDS[i]}: ${t.non2xx} non-2xx, ${t.errors} errors`);
      if (t.ok / load.elapsedS < f.ratePerMember * 0.95) warnings.push(`background load at ${MEMBER_IDS[i]} reached ${(t.ok / load.elapsedS).toFixed(0)} of ${f.ratePerMember} rps`);
    }
    return {
      scenario: 'revocation-propagation', quick: opts.quick, flags: { ...f, giveUpMs: GIVE_UP_MS, checksAfter: CHECKS_AFTER, members: MEMBER_IDS.length },
      cpuPlan: plan, peers: { 'nats-server': nats.version }, skipped: {},
      rounds: { samples }, summary, warnings, table: propagationTables(summary, f, warnings),
    };
  } finally {
    await observer?.close().catch(() => {});
    for (const c of [...clients, ...admins]) await c.close().catch(() => {});
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}
