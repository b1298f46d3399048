// Scenario `revocation-propagation` (DESIGN §6: publish → enforcement on every instance,
// p99 ≤ 5 ms on loopback). Three Portcullis members on one nats-server, each under a fixed
// background load with a warm token. Then, paced, for each of N fresh tokens: warm it at all
// three, start one back-to-back prober per member with it, revoke it by jti at one member (the
// origin rotates), and record when each prober sees its first 401 — counted from the moment
// the bench sent `POST /revocations`, on one host's clock, nothing subtracted. Beside it, the
// members' own publish → applied histogram (portcullis_revocation_propagation_seconds in /metrics, read back in ms).
// CPU: no pinning — the three members, nats-server, the AS, the upstream, the load process and
// the prober share every core (2 on the reference machine); the foreign-CPU column says how
// busy the rest of the machine was.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { Client } from 'undici';
import { BusAuth, Codec, subjects } from '../cluster/protocol/index.js';
import { BENCH_BUS_KEY, PROBE_SCOPE, clusterMetrics, jtiOf, memberConfigYaml, revokeAt, runPrefix, startMembers, waitMembership, waitReady, type Member } from './cluster-targets.js';
import type { CpuPlan } from './cpu-plan.js';
import { parseLoopDelay } from './loop-delay-preload.js';
import { natsServerBin, startNatsProcess } from './nats-process.js';
import { parsePacedLoadReport, type PacedLoadReport, type PacedLoadSpec } from './paced-load-process.js';
import { compiledRoot } from './paths.js';
import { startProcess, watchForeignCpu } from './processes.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenarios.js';
import { startUpstreamProcess } from './targets.js';
import { runTokenList } from './token-list-load.js';
import { startAuthServerProcess, tokenConfigEnv, waitUntilServing } from './token-targets.js';

const MEMBER_IDS = ['bench-a', 'bench-b', 'bench-c'] as const;
/** A prober that has not seen a 401 this long after the POST gives up: the revocation did not arrive. */
const GIVE_UP_MS = 2_000;
/** Requests each prober sends after its first 401: every one must be refused too. */
const CHECKS_AFTER = 5;
/** Where the probers ask: a route requiring a scope the tokens lack (403 before, 401 once revoked; no upstream hop). */
const PROBE_PATH = '/probe/x';

export interface PropagationFlags {
  revocations: number;
  /** Background load per member, requests per second (paced, own process). */
  ratePerMember: number;
  loadConnections: number;
  /**
   * Closed-loop requests per member before the window (8 connections, the load token): grows the
   * members' young generation to its working size, so the window does not time the first,
   * slow scavenges (measured 12–64 ms on this VM, then 1–2 ms).
   */
  warmupRequestsPerMember: number;
  /** Prober cadence per member, ms between sends (one request in flight); 0 = back to back. */
  probeIntervalMs: number;
  /** Pause between revocations: fixed + uniform random jitter, ms (no phase lock with 1 s heartbeats or timers). */
  gapMs: number;
  gapJitterMs: number;
  alg: 'ES256';
  /** What the prober timestamps: send of POST /revocations → first 401 response headers at each member. */
  clock: string;
}

export const DEFAULT_PROPAGATION_FLAGS: PropagationFlags = {
  revocations: 200, ratePerMember: 200, loadConnections: 8, warmupRequestsPerMember: 15_000, probeIntervalMs: 1, gapMs: 20, gapJitterMs: 30, alg: 'ES256',
  clock: 'performance.now() in the bench process; t0 = just before POST /revocations is sent; refusal = first 401 answer received, nothing subtracted',
};

/** One revocation: where it was sent and when each member first refused (ms after t0; null: not within GIVE_UP_MS). */
export interface PropagationSample {
  origin: number;
  /** POST /revocations answered 201 (after the JetStream ack), ms after t0. */
  postMs: number;
  refusedMs: Array<number | null>;
  /** Refusals each member's prober failed to get again after its first 401. */
  acceptedAfter: number[];
  /** Origin's `publishedAt` stamp (inside the message), ms after t0: the admin path at the origin. */
  publishedMs: number | null;
  /** A plain NATS subscriber in the bench process got the live message, ms after t0. */
  observedMs: number | null;
}

export interface Quantiles { n: number; p50: number | null; p99: number | null; max: number | null; within5: number | null }

/** Pure: nearest-rank quantiles over `xs` (null entries count as misses, ranked above every number). */
export function quantiles(xs: ReadonlyArray<number | null>): Quantiles {
  const n = xs.length;
  if (n === 0) return { n: 0, p50: null, p99: null, max: null, within5: null };
  const sorted = xs.map((x) => (x === null ? Number.POSITIVE_INFINITY : x)).sort((a, b) => a - b);
  const at = (q: number): number | null => { const v = sorted[Math.max(0, Math.ceil(q * n) - 1)]!; return Number.isFinite(v) ? v : null; };
  return { n, p50: at(0.5), p99: at(0.99), max: at(1), within5: sorted.filter((x) => x <= 5).length / n };
}

export interface ProxyHistogram {
  member: string;
  /** Samples in the measured window (bucket delta); p50/p99/max are the member's ring (every sample since start). */
  samples: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** Fraction of the window's samples ≤ 1, 2, 5 ms (cumulative bucket deltas). */
  le1: number | null;
  le2: number | null;
  le5: number | null;
}

export interface PropagationSummary {
  prober: { origin: Quantiles; others: Quantiles; slowest: Quantiles; post: Quantiles; notRefused: number; acceptedAfterRefusal: number };
  /** Round trip of every prober request, ms: the prober's resolution (a refusal is seen up to ~2 round trips after it took effect). */
  proberRtt: Quantiles;
  /** Where the time goes, per revocation (ms): t0 → origin stamps publishedAt; publishedAt → observer has it; observer → each other member's first 401. */
  breakdown: { admin: Quantiles; bus: Quantiles; observedToRefusal: Quantiles };
  proxies: ProxyHistogram[];
  proxiesMerged: ProxyHistogram;
  load: PacedLoadReport | null;
  loopDelay: Array<{ member: string; p50: number; p99: number; p999: number; max: number; gc: { count: number; totalMs: number; maxMs: number } } | null>;
  foreignCores: number | null;
}

const BUCKET = 'revocation_propagation_ms_bucket_le_';

/** Pure: a member's histogram over the window between two metric snapshots. */
export function proxyHistogram(member: string, before: Record<string, number>, after: Record<string, number>): ProxyHistogram {
  const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
  const samples = d('revocation_propagation_ms_count');
  const frac = (b: string): number | null => (samples > 0 ? d(BUCKET + b) / samples : null);
  const v = (k: string): number | null => (samples > 0 ? after[k] ?? null : null);
  return {
    member, samples, p50: v('revocation_propagation_ms_p50'), p99: v('revocation_propagation_ms_p99'), max: v('revocation_propagation_ms_max'),
    le1: frac('1'), le2: frac('2'), le5: frac('5'),
  };
}

/** Pure: merge members' bucket fractions (weighted by samples); ring quantiles cannot be merged, max can. */
export function mergeHistograms(hs: readonly ProxyHistogram[]): ProxyHistogram {
  const samples = hs.reduce((n, h) => n + h.samples, 0);
  const w = (f: (h: ProxyHistogram) => number | null): number | null => (samples === 0 ? null : hs.reduce((s, h) => s + (f(h) ?? 0) * h.samples, 0) / samples);
  const maxes = hs.map((h) => h.max).filter((x): x is number => x !== null);
  return { member: 'all receivers', samples, p50: null, p99: null, max: maxes.length === 0 ? null : Math.max(...maxes), le1: w((h) => h.le1), le2: w((h) => h.le2), le5: w((h) => h.le5) };
}

/** Pure: fold the samples into the prober's rows. */
export function summariseProber(samples: readonly PropagationSample[]): PropagationSummary['prober'] {
  const origin = samples.map((s) => s.refusedMs[s.origin] ?? null);
  const others = samples.flatMap((s) => s.refusedMs.filter((_, i) => i !== s.origin));
  const slowest = samples.map((s) => (s.refusedMs.some((x) => x === null) ? null : Math.max(...(s.refusedMs as number[]))));
  return {
    origin: quantiles(origin), others: quantiles(others), slowest: quantiles(slowest), post: quantiles(samples.map((s) => s.postMs)),
    notRefused: samples.reduce((n, s) => n + s.refusedMs.filter((x) => x === null).length, 0),
    acceptedAfterRefusal: samples.reduce((n, s) => n + s.acceptedAfter.reduce((a, b) => a + b, 0), 0),
  };
}

/** Pure: the per-stage rows (samples without an observed message are left out of the bus rows). */
export function breakdown(samples: readonly PropagationSample[]): PropagationSummary['breakdown'] {
  const seen = samples.filter((s) => s.publishedMs !== null && s.observedMs !== null);
  return {
    admin: quantiles(seen.map((s) => s.publishedMs!)),
    bus: quantiles(seen.map((s) => s.observedMs! - s.publishedMs!)),
    observedToRefusal: quantiles(seen.flatMap((s) => s.refusedMs.filter((_, i) => i !== s.origin).map((x) => (x === null ? null : x - s.observedMs!)))),
  };
}

/** Pure: the printed tables (also what goes into bench/RESULTS.md). */
export function propagationTables(s: PropagationSummary, f: PropagationFlags, warnings: readonly string[] = []): string {
  const q = (name: string, x: Quantiles, extra: string[]): string[] => [name, cell(x.n, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.max, 3), x.within5 === null ? '—' : `${(x.within5 * 100).toFixed(1)} %`, ...extra];
  const prober = markdownTable(
    ['external prober: POST /revocations sent → first 401', 'n', 'p50 ms', 'p99 ms', 'max ms', '≤ 5 ms'],
    [
      q('origin member (took the POST)', s.prober.origin, []),
      q('other members (each)', s.prober.others, []),
      q('**every member (slowest of 3 per revocation)**', s.prober.slowest, []),
      q('POST /revocations answered 201 (JetStream ack)', s.prober.post, []),
      q('(prober round trip, every request)', s.proberRtt, []),
    ],
    [false, true, true, true, true, true],
  );
  const stages = markdownTable(
    ['where the time goes (per revocation)', 'n', 'p50 ms', 'p99 ms', 'max ms', '≤ 5 ms'],
    [
      q('POST sent → origin stamps publishedAt (origin\'s admin path, store applied)', s.breakdown.admin, []),
      q('publishedAt → a plain NATS subscriber in the bench has it (origin publish + nats-server)', s.breakdown.bus, []),
      q('bench subscriber has it → first 401 at each other member (member receive + apply + prober)', s.breakdown.observedToRefusal, []),
    ],
    [false, true, true, true, true, true],
  );
  const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
  const proxies = markdownTable(
    ['member: publish → applied (own metric)', 'samples', 'p50 ms', 'p99 ms', 'max ms', '≤ 1 ms', '≤ 2 ms', '≤ 5 ms'],
    [...s.proxies, s.proxiesMerged].map((h) => [h.member, cell(h.samples, 0), cell(h.p50, 3), cell(h.p99, 3), cell(h.max, 3), pct(h.le1), pct(h.le2), pct(h.le5)]),
    [false, true, true, true, true, true, true, true],
  );
  const load = s.load === null ? '(background load report missing)' : markdownTable(
    ['member', 'offered rps', 'achieved rps', 'non-2xx', 'errors', 'p50 ms', 'p99 ms', 'max ms', 'loop delay p99 ms', 'loop delay max ms', 'GC pauses', 'longest GC ms'],
    s.load.targets.map((t, i) => {
      const ld = s.loopDelay[i] ?? null;
      return [MEMBER_IDS[i] ?? t.url, cell(f.ratePerMember, 0), cell(t.ok / s.load!.elapsedS, 0), cell(t.non2xx, 0), cell(t.errors, 0), cell(t.p50Ms, 3), cell(t.p99Ms, 3), cell(t.maxMs, 3), cell(ld?.p99, 2), cell(ld?.max, 2), cell(ld?.gc.count, 0), cell(ld?.gc.maxMs, 2)];
    }),
    [false, true, true, true, true, true, true, true, true, true, true, true],
  );
  return [
    `**Revocation propagation** — 3 members on one nats-server (JetStream), ${f.revocations} revocations by jti, origin rotating over the members, ${f.gapMs}–${f.gapMs + f.gapJitterMs} ms apart; each member under ${f.ratePerMember} rps of background load (warm token, paced, own process); one prober per member on \`${PROBE_PATH}\` (${f.probeIntervalMs === 0 ? 'back to back' : `one request every ${f.probeIntervalMs} ms, or back to back when an answer takes longer`}) (requires scope \`${PROBE_SCOPE}\` the tokens lack: 403 until revoked, then 401 \`revoked\`, no upstream hop). Prober: ${f.clock}. Target: every member p99 ≤ 5 ms. Revoked tokens accepted after a member's first refusal: ${s.prober.acceptedAfterRefusal}; refusals missing after ${GIVE_UP_MS} ms: ${s.prober.notRefused}. Foreign CPU (cores used by processes outside the bench): ${cell(s.foreignCores)}.`,
    '', prober, '', stages, '',
    '**Members\' own histogram** — `portcullis_revocation_propagation_seconds` (publish timestamp at the origin, before the JetStream publish → applied to the store at the receiver; origins do not record their own). Fractions over this run\'s samples; p50/p99/max over the member\'s recent-sample ring.',
    '', proxies, '',
    '**Background load, event-loop delay and GC** (member process, the measured window only; loop delay = how late a 10 ms timer fired; latency of the load from each request\'s send)',
    '', load,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** An integer ≥ `min` from the environment, undefined when unset; throws on anything else. */
export function envInt(name: string, min: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}
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

/** Run the scenario: start nats-server, AS, upstream, three members and the background load; revoke N tokens; stop everything. */
export async function revocationPropagation(opts: ScenarioOptions): Promise<ScenarioReport> {
  const f: PropagationFlags = {
    ...DEFAULT_PROPAGATION_FLAGS,
    revocations: envInt('PORTCULLIS_BENCH_REVOCATIONS', 1) ?? (opts.quick ? 20 : DEFAULT_PROPAGATION_FLAGS.revocations),
    ratePerMember: envInt('PORTCULLIS_BENCH_CLUSTER_RATE', 0) ?? DEFAULT_PROPAGATION_FLAGS.ratePerMember,
    probeIntervalMs: envInt('PORTCULLIS_BENCH_PROBE_INTERVAL_MS', 0) ?? DEFAULT_PROPAGATION_FLAGS.probeIntervalMs,
    warmupRequestsPerMember: opts.quick ? 1_000 : DEFAULT_PROPAGATION_FLAGS.warmupRequestsPerMember,
  };
  const plan: CpuPlan = { loader: [], upstream: [], proxy: [], note: 'no pinning: 3 members, nats-server, AS, upstream, background-load process and the prober (bench process) share every core' };
  const bin = natsServerBin();
  if (bin === undefined) throw new Error('revocation-propagation needs nats-server: apt-get install -y nats-server');
  const stops: Array<() => Promise<void>> = [];
  const clients: Client[] = [];
  const admins: Client[] = [];
  let observer: NatsConnection | null = null;
  try {
    const nats = await startNatsProcess();
    stops.push(() => nats.stop());
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    const upstream = await startUpstreamProcess();
    stops.push(() => upstream.stop());
    const { env, adminToken } = tokenConfigEnv();
    const prefix = runPrefix();
    const preload = join(compiledRoot(), 'bench', 'loop-delay-preload.js');
    const memberEnv = { ...env, PORTCULLIS_BENCH_LOOP_DELAY_PRELOAD: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim() };
    const members = await startMembers(MEMBER_IDS, (id) => memberConfigYaml({
      upstreamPort: upstream.port, issuer: as.issuer, algorithms: [f.alg], probeRoute: true, cluster: { natsUrl: nats.url, prefix, memberId: id },
    }), memberEnv);
    for (const m of members) stops.push(() => m.stop());
    await Promise.all(members.map((m) => waitReady(m)));
    await waitMembership(members, adminToken, members.length);

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

    const ownPids = [nats.process.pid, as.process.pid, upstream.process.pid, loader.pid, ...members.map((m) => m.process.pid)];
    const before = await Promise.all(members.map((m) => clusterMetrics(m, adminToken)));
    for (const m of members) m.process.proc.kill('SIGUSR2'); // loop-delay window starts now (the line it prints covers the warmup)
    const foreign = watchForeignCpu(ownPids);
    const samples: PropagationSample[] = [];
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
    const loopDelay = await endLoopDelayWindow(members);
    const after = await Promise.all(members.map((m) => clusterMetrics(m, adminToken)));
    await stopLoader();
    const load = parsePacedLoadReport(loader.output());

    const proxies = members.map((m, i) => proxyHistogram(m.id, before[i]!, after[i]!));
    const summary: PropagationSummary = { prober: summariseProber(samples), proberRtt: quantiles(proberRtts), breakdown: breakdown(samples), proxies, proxiesMerged: mergeHistograms(proxies), load, loopDelay, foreignCores };
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
