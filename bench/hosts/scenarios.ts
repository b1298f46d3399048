// The multi-host scenarios (issue 12 a–e), each run against one HostsCluster and returning
// its figures plus what a test asserts. Sizes are parameters: the CI test runs small ones,
// `npm run hosts` the full ones. Scenario f (cluster policy) lives in scenario-policy.ts.
import type { HostsCluster, ProxyHost } from './hosts-cluster.js';
import { PROXY_HOSTS } from './hosts-cluster.js';
import { refusalCounters, unexplainedRefusals } from './refusal-evidence.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const nowNs = (): bigint => process.hrtime.bigint();
export const msBetween = (from: bigint | string, to: bigint | string): number => Number(BigInt(to) - BigInt(from)) / 1e6;
export const round = (x: number): number => Math.round(x * 100) / 100;

/** p50/p99/max of a sample, ms. */
export function summary(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s.length === 0 ? NaN : round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: round(s[s.length - 1] ?? NaN) };
}

function jtiOf(jwt: string): string {
  return (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti;
}

export async function mint(c: HostsCluster, kind: 'jwt' | 'opaque', count: number): Promise<string[]> {
  return c.agent.call<string[]>({ cmd: 'mint', control: c.controlUrl, kind, count });
}

export async function statuses(c: HostsCluster, hosts: readonly ProxyHost[], tokens: string[]): Promise<Record<ProxyHost, number[]>> {
  const r = await c.agent.call<Record<string, number[]>>({ cmd: 'statuses', urls: hosts.map((h) => c.apiUrl(h)), tokens });
  return Object.fromEntries(hosts.map((h) => [h, r[c.apiUrl(h)]!])) as Record<ProxyHost, number[]>;
}

/** POST /revocations {kind: jti} at a host's admin API, retried until accepted; returns the attempts it took. */
async function revoke(c: HostsCluster, at: ProxyHost, jti: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const o = await c.agent.call<{ status: number; body: string; error: string | null }>({ cmd: 'post', url: `${c.adminUrl(at)}/revocations`, headers: { authorization: `Bearer ${c.adminToken}` }, body: JSON.stringify({ kind: 'jti', value: jti }) });
    if (o.status >= 200 && o.status < 300) return attempt;
    if (Date.now() > deadline) throw new Error(`revocation of ${jti} at ${at} not accepted within ${timeoutMs} ms: ${o.status} ${o.error ?? o.body}`);
    await sleep(100);
  }
}

/** Wait until every token answers 401 at every host; returns ms waited, or throws naming what still passes. */
async function waitRefused(c: HostsCluster, hosts: readonly ProxyHost[], tokens: string[], timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const s = await statuses(c, hosts, tokens);
    const bad = hosts.flatMap((h) => s[h].map((x, i) => [h, i, x] as const).filter(([, , x]) => x !== 401));
    if (bad.length === 0) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`after ${timeoutMs} ms still not refused: ${bad.slice(0, 10).map(([h, i, x]) => `${h}#${i}=${x}`).join(', ')}`);
    await sleep(200);
  }
}

// ---- the deployed bus ---------------------------------------------------------------------

export interface DeployedBusResult {
  /** Per host: does its nats-server demand credentials, and what it answers without them / with a wrong password / as the proxies. */
  nats: Record<string, { authRequired: boolean | null; anonymous: string; wrongPassword: string; proxyUser: string }>;
  /** Per host: `bus_auth` and `bus_key_id` of /readyz (one key id across the cluster). */
  members: Record<string, { busAuth: unknown; keyId: unknown }>;
  /** `portcullis revoke --jti` as user portcullis-revoke from the client host: exit code, and the hosts refusing the token after it. */
  revokeCli: { code: number | null; stderr: string; refusedAt: string[]; refusedMs: number };
}

/**
 * What operators deploy holds across the hosts: every nats-server refuses clients without the
 * permissions file's credentials, every member seals with the same bus key, and the revoke CLI
 * (its own NATS user, the bus key) revokes at every host.
 */
export async function deployedBus(c: HostsCluster): Promise<DeployedBusResult> {
  const nats: DeployedBusResult['nats'] = {};
  const members: DeployedBusResult['members'] = {};
  for (const h of PROXY_HOSTS) {
    const at = c.natsAddr(h);
    const hello = (user?: string, pass?: string): Promise<{ authRequired: boolean | null; answer: string }> =>
      c.agent.call({ cmd: 'natsHello', ...at, ...(user !== undefined ? { user, pass } : {}) });
    const anonymous = await hello();
    nats[h] = {
      authRequired: anonymous.authRequired, anonymous: anonymous.answer,
      wrongPassword: (await hello('portcullis', 'wrong')).answer,
      proxyUser: (await hello('portcullis', c.secrets.PORTCULLIS_NATS_PASSWORD)).answer,
    };
    const o = await c.agent.call<{ status: number; body: string }>({ cmd: 'get', url: `${c.adminUrl(h)}/readyz`, headers: { authorization: `Bearer ${c.adminToken}` } });
    const r = JSON.parse(o.body) as { cluster?: { bus_auth?: unknown; bus_key_id?: unknown } };
    members[h] = { busAuth: r.cluster?.bus_auth, keyId: r.cluster?.bus_key_id };
  }
  const [token] = await mint(c, 'jwt', 1);
  const before = await statuses(c, PROXY_HOSTS, [token!]);
  if (PROXY_HOSTS.some((h) => before[h][0] !== 200)) throw new Error(`a fresh token is not served everywhere: ${JSON.stringify(before)}`);
  const cli = await c.revokeCli(['--jti', jtiOf(token!)]);
  const refusedMs = cli.code === 0 ? await waitRefused(c, PROXY_HOSTS, [token!], 20_000) : -1;
  const after = await statuses(c, PROXY_HOSTS, [token!]);
  return { nats, members, revokeCli: { code: cli.code, stderr: cli.stderr.slice(-500), refusedAt: PROXY_HOSTS.filter((h) => after[h][0] === 401), refusedMs } };
}

// ---- a. propagation ----------------------------------------------------------------------

export interface PropagationResult { revocations: number; perHost: Record<string, { n: number; p50: number; p99: number; max: number }>; missed: number }

/** a. Revocations made at host a, first 401 seen from the client host at b and c: ms from the POST. */
export async function propagation(c: HostsCluster, count: number): Promise<PropagationResult> {
  const tokens = await mint(c, 'jwt', count);
  const warm = await statuses(c, PROXY_HOSTS, tokens);
  for (const h of PROXY_HOSTS) if (!warm[h].every((s) => s === 200)) throw new Error(`tokens not accepted at ${h} before revocation: ${warm[h].join(',')}`);
  const watch: ProxyHost[] = ['b', 'c'];
  const samples: Record<string, number[]> = { b: [], c: [] };
  let missed = 0;
  for (const t of tokens) {
    const r = await c.agent.call<{ t0: string; seen: Array<string | null> }>({ cmd: 'propagate', admin: c.adminUrl('a'), adminToken: c.adminToken, jti: jtiOf(t), token: t, watch: watch.map((h) => c.apiUrl(h)), timeoutMs: 10_000 });
    r.seen.forEach((s, i) => { if (s === null) missed++; else samples[watch[i]!]!.push(msBetween(r.t0, s)); });
  }
  return { revocations: count, perHost: { b: summary(samples.b!), c: summary(samples.c!) }, missed };
}

// ---- b. link cut ---------------------------------------------------------------------------

export interface LinkCutResult {
  tokens: number; cutMs: number;
  /** 200 answers for revoked tokens at c after the link came back: must be 0. */
  servedRevoked: number;
  /** Answers at c by kind after the link came back (e.g. {"503": 12, "401": 40, "ETIMEDOUT": 3}). */
  answers: Record<string, number>;
  /** From link up to the first HTTP answer at c, and to the first round where every token got 401, ms. */
  firstAnswerMs: number | null; caughtUpMs: number | null;
}

/** b. Cut c's link, revoke tokens at a meanwhile, restore: c must refuse them before it serves any. */
export async function linkCut(c: HostsCluster, count: number, cutMs: number): Promise<LinkCutResult> {
  const tokens = await mint(c, 'jwt', count);
  const warm = await statuses(c, PROXY_HOSTS, tokens);
  if (!warm.c.every((s) => s === 200)) throw new Error(`tokens not cached at c before the cut: ${warm.c.join(',')}`);
  c.link('c', 'down');
  const cutAt = Date.now();
  try {
    for (const t of tokens) await revoke(c, 'a', jtiOf(t));
    await waitRefused(c, ['a', 'b'], tokens, 30_000);
    const left = cutMs - (Date.now() - cutAt);
    if (left > 0) await sleep(left);
  } catch (err) {
    c.link('c', 'up');
    throw err;
  }
  // the client keeps asking c with the revoked tokens from before the link comes back
  const sweep = c.agent.call<{ counts: Record<string, number>; served: number; firstAnswer: string | null; all401: string | null }>({ cmd: 'sweep', url: c.apiUrl('c'), tokens, timeoutMs: 60_000 });
  await sleep(500);
  const upAt = nowNs();
  c.link('c', 'up');
  const s = await sweep;
  return {
    tokens: count, cutMs: Date.now() - cutAt, servedRevoked: s.served, answers: s.counts,
    firstAnswerMs: s.firstAnswer === null ? null : round(msBetween(upAt, s.firstAnswer)),
    caughtUpMs: s.all401 === null ? null : round(msBetween(upAt, s.all401)),
  };
}

// ---- c. stream leader's host dies under load ------------------------------------------------

interface LoadReport {
  sent: number; ok: number; failed: number; retried: number; overload: number;
  byHost: Record<string, { ok: number; failed: number; retriedAway: number }>;
  failures: Record<string, number>; retries: Record<string, number>; latency: { p50: number; p99: number; max: number };
  /** Refused attempts, oldest first (bounded): [ms since the load started, host, why]. */
  refusals: Array<[number, string, string]>;
}

export interface LeaderLossResult {
  /** How long it waited for a whole cluster first (as e does: it may follow b's healed partition), ms, and what it saw meanwhile. */
  settled: { ms: number; waitedFor: string[] };
  leader: ProxyHost; survivors: ProxyHost[]; revocations: number;
  /** Attempts the admin API needed per revocation made after the kill (1 = accepted at once). */
  attemptsAfterKill: number[];
  /** Kill → a new stream leader reported, ms. */
  newLeaderMs: number; newLeader: ProxyHost;
  /** Revoked tokens refused at every survivor (must equal revocations), and ms it took after the last revocation. */
  refusedAtSurvivors: number; refusedAfterMs: number;
  /** The dead host restarted: revoked tokens it refuses once ready (must equal revocations). */
  refusedAtRestarted: number; restartReadyMs: number;
  load: LoadReport;
  /** Non-200 answers from surviving hosts. */
  survivorFailures: number;
  /** …of which 503 `PORTCULLIS_ERR_AUTH_UNAVAILABLE` (a member catching up after losing its NATS server), and the rest (must be 0). */
  survivorCatchUp503: number; survivorOtherFailures: number;
  /** 503 catch-up answers from survivors that the pool retried at another host (not failures for the client). */
  survivorCatchUp503Retried: number;
  /**
   * Survivors' 503s (to the client or retried) whose reason their own counters do not show — a catch-up without a reconnect,
   * a stall refusal without a stall… (must be empty: a survivor's NATS server lives, so it keeps serving).
   */
  survivorUnexplained503: string[];
}

/** c. Kill every process on the host leading the revocation stream under load; revoke at the survivors. */
export async function leaderLoss(c: HostsCluster, revocations: number, rps: number): Promise<LeaderLossResult> {
  const settled = await c.waitSettled(); // a stream leader to kill, and no member still catching up from b
  const leader = await c.streamLeader();
  const survivors = PROXY_HOSTS.filter((h) => h !== leader);
  const [revoked, loadTokens] = [await mint(c, 'jwt', revocations), await mint(c, 'jwt', 20)];
  await statuses(c, PROXY_HOSTS, [...revoked, ...loadTokens]);
  const countersBefore = await Promise.all(survivors.map((h) => refusalCounters(c, h)));
  await c.agent.call({ cmd: 'loadStart', spec: { urls: PROXY_HOSTS.map((h) => c.apiUrl(h)), health: PROXY_HOSTS.map((h) => `${c.adminUrl(h)}/readyz`), tokens: loadTokens, rps } });
  const half = Math.floor(revocations / 2);
  for (let i = 0; i < half; i++) await revoke(c, survivors[i % 2]!, jtiOf(revoked[i]!));
  await sleep(1_000);
  const killedAt = Date.now();
  c.killHost(leader);
  const newLeaderP = (async () => {
    for (;;) {
      try {
        const l = await c.streamLeader();
        if (l !== leader) return { l, ms: Date.now() - killedAt };
      } catch { /* no leader yet */ }
      await sleep(100);
    }
  })();
  const attemptsAfterKill: number[] = [];
  for (let i = half; i < revocations; i++) attemptsAfterKill.push(await revoke(c, survivors[i % 2]!, jtiOf(revoked[i]!)));
  const lastAt = Date.now();
  await waitRefused(c, survivors, revoked, 20_000);
  const refusedAfterMs = Date.now() - lastAt;
  const nl = await Promise.race([newLeaderP, sleep(30_000).then(() => { throw new Error('no new stream leader within 30 s'); })]);
  await sleep(2_000);
  const load = await c.agent.call<LoadReport>({ cmd: 'loadStop' });
  const survivorFailures = survivors.reduce((n, h) => n + (load.byHost[`${c.addr(h)}:8080`]?.failed ?? 0), 0);
  // 503 + Retry-After from a survivor member (fail-closed while it catches up), told apart from any other
  // failure; each such 503 must have its reason in that member's counters (survivorUnexplained503)
  const catchUp = (m: Record<string, number>): number => Object.entries(m).filter(([k]) => survivors.some((h) => k.startsWith(`${c.addr(h)}:8080 503 PORTCULLIS_ERR_AUTH_UNAVAILABLE`))).reduce((n, [, v]) => n + v, 0);
  const survivorCatchUp503 = catchUp(load.failures);
  const survivorCatchUp503Retried = catchUp(load.retries);
  const countersAfter = await Promise.all(survivors.map((h) => refusalCounters(c, h)));
  const evidence = survivors.map((h, i) => ({ addr: `${c.addr(h)}:8080`, before: countersBefore[i]!, after: countersAfter[i]! }));
  const survivorUnexplained503 = [...unexplainedRefusals(load.failures, evidence), ...unexplainedRefusals(load.retries, evidence)];
  // the dead host comes back: nats-server rejoins, the proxy replays the stream before it is ready
  const restartAt = Date.now();
  await c.startNats(leader);
  await c.startProxy(leader);
  await c.waitReady(leader);
  const restartReadyMs = Date.now() - restartAt;
  const back = await statuses(c, [leader], revoked);
  const after = await statuses(c, survivors, revoked);
  return {
    settled, leader, survivors, revocations, attemptsAfterKill, newLeaderMs: nl.ms, newLeader: nl.l,
    refusedAtSurvivors: revoked.filter((_, i) => survivors.every((h) => after[h][i] === 401)).length, refusedAfterMs,
    refusedAtRestarted: back[leader].filter((s) => s === 401).length, restartReadyMs,
    load, survivorFailures, survivorCatchUp503, survivorCatchUp503Retried, survivorOtherFailures: survivorFailures - survivorCatchUp503, survivorUnexplained503,
  };
}

// ---- d. introspection ----------------------------------------------------------------------

export interface IntrospectionResult { tokens: number; requests: number; ok: number; asCalls: number; callsPerToken: number }

/** d. The same opaque tokens sent to all three hosts at once: one authorization-server call per token. */
export async function introspectionOnce(c: HostsCluster, count: number): Promise<IntrospectionResult> {
  const tokens = await mint(c, 'opaque', count);
  await c.agent.call({ cmd: 'post', url: `${c.controlUrl}/counters/reset`, body: '{}' });
  const r = await c.agent.call<number[][]>({ cmd: 'fanout', urls: PROXY_HOSTS.map((h) => c.apiUrl(h)), tokens });
  const counters = await c.agent.call<{ status: number; body: string }>({ cmd: 'get', url: `${c.controlUrl}/counters` });
  const asCalls = (JSON.parse(counters.body) as { introspection: number }).introspection;
  const flat = r.flat();
  return { tokens: count, requests: flat.length, ok: flat.filter((s) => s === 200).length, asCalls, callsPerToken: round(asCalls / count) };
}

// ---- e. rolling restart --------------------------------------------------------------------

export interface RollingResult {
  /** How long the scenario waited for a whole cluster first (every proxy ready, the stream's replicas current), ms, and what it saw meanwhile. */
  settled: { ms: number; waitedFor: string[] };
  /** Per host: `exitedAt` (the old process gone) and `readyAt` (the new one's /readyz 200): ms since the load started (the load report's `refusals` use the same origin, ± a few ms). */
  restarts: Array<{ host: ProxyHost; exitCode: number | null; drainMs: number; readyMs: number; exitedAt: number; readyAt: number }>;
  load: LoadReport;
}

/** e. Restart every proxy, one host at a time, under load through a pool that knows all three. */
export async function rollingRestart(c: HostsCluster, rps: number, settleMs = 1_000): Promise<RollingResult> {
  const settled = await c.waitSettled(); // from a whole cluster, not from the last scenario's partition aftermath
  const tokens = await mint(c, 'jwt', 20);
  await statuses(c, PROXY_HOSTS, tokens);
  await c.agent.call({ cmd: 'loadStart', spec: { urls: PROXY_HOSTS.map((h) => c.apiUrl(h)), health: PROXY_HOSTS.map((h) => `${c.adminUrl(h)}/readyz`), tokens, rps } });
  const t0 = Date.now();
  const restarts: RollingResult['restarts'] = [];
  try {
    await sleep(settleMs);
    for (const h of PROXY_HOSTS) {
      const { code, ms } = await c.stopProxy(h);
      const start = Date.now();
      await c.startProxy(h);
      await c.waitReady(h);
      restarts.push({ host: h, exitCode: code, drainMs: round(ms), readyMs: Date.now() - start, exitedAt: start - t0, readyAt: Date.now() - t0 });
      await sleep(settleMs);
    }
  } catch (err) {
    await c.agent.call({ cmd: 'loadStop' }).catch(() => {});
    throw err;
  }
  const load = await c.agent.call<LoadReport>({ cmd: 'loadStop' });
  return { settled, restarts, load };
}
