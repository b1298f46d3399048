// Scenario `idp-event-propagation` (issue 16: an identity-provider event → refused at every
// instance, target p99 ≤ 10 ms with 3 instances). Three members on one nats-server, each under
// paced background load (own process, warm token). A transmitter in the bench process (SSF
// metadata + JWKS on port 0, ES256 SETs signed with jose). Per round: a fresh token with its own
// `sid`, warmed at all three; one back-to-back prober per member; a CAEP session-revoked SET
// (complex subject → the session) pushed (RFC 8935) to one member (rotating); the time from the
// push's send to each member's first 401, one clock, nothing subtracted. Interleaved with it, the
// baseline: the same session revoked by POST /revocations (kind sid) at the admin API — the
// operator's path through the same publisher — so the ratio holds on a shared machine. Then the accept rate of
// one member: pre-signed SETs with distinct jti (RISC account-disabled, distinct users), pushed
// closed-loop by 16 connections, background load stopped.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CompactSign, exportJWK, type JWK } from 'jose';
import { Client, Pool } from 'undici';
import { memberConfigYaml, revokeAt, startClusterPeers, startMembers, waitMembership, waitReady, type Member } from './cluster-targets.js';
import type { CpuPlan } from './cpu-plan.js';
import { natsServerBin } from './nats-process.js';
import { parsePacedLoadReport, type PacedLoadReport, type PacedLoadSpec } from './paced-load-process.js';
import { compiledRoot } from './paths.js';
import { startProcess, watchForeignCpu } from './processes.js';
import { cell, markdownTable } from './results.js';
import { envInt, quantiles, type Quantiles } from './revocation-propagation.bench.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { waitUntilServing } from './token-targets.js';

const MEMBER_IDS = ['idp-a', 'idp-b', 'idp-c'] as const;
const PUSH_PATH = '/ssf/bench';
const PUSH_ENV = 'PORTCULLIS_BENCH_SSF_PUSH';
const PUSH_AUTH = `Bearer ${randomUUID()}`;
const AUDIENCE = 'https://bench.portcullis.example/ssf';
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
const GIVE_UP_MS = 2_000;

export interface IdpFlags {
  events: number;
  ratePerMember: number;
  loadConnections: number;
  gapMs: number;
  gapJitterMs: number;
  /** SETs pushed for the accept-rate part, and the closed-loop connections pushing them. */
  throughputEvents: number;
  throughputConnections: number;
  clock: string;
}

export const DEFAULT_IDP_FLAGS: IdpFlags = {
  events: 200, ratePerMember: 200, loadConnections: 8, gapMs: 20, gapJitterMs: 30, throughputEvents: 3_000, throughputConnections: 16,
  clock: 'performance.now() in the bench process; t0 = just before the SET push is sent; refusal = first 401 answer received at each member, nothing subtracted',
};

interface Transmitter { issuer: string; sign(type: string, event: Record<string, unknown>, subId: Record<string, unknown>): Promise<string>; close(): Promise<void> }

/** SSF metadata and JWKS on port 0; SETs signed with one ES256 key. */
async function startTransmitter(): Promise<Transmitter> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/ssf-configuration') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, delivery_methods_supported: ['urn:ietf:rfc:8935'] }));
    else if (req.url === '/jwks') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    sign: (type, event, subId) => new CompactSign(new TextEncoder().encode(JSON.stringify({
      iss: issuer, aud: AUDIENCE, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), sub_id: subId, events: { [type]: event },
    }))).setProtectedHeader({ alg: 'ES256', kid: 'bench-1', typ: 'secevent+jwt' }).sign(privateKey),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function push(c: Client | Pool, set: string): Promise<number> {
  const r = await c.request({ path: PUSH_PATH, method: 'POST', headers: { authorization: PUSH_AUTH, 'content-type': 'application/secevent+jwt' }, body: set });
  await r.body.dump();
  return r.statusCode;
}

async function status(c: Client, token: string): Promise<number> {
  const r = await c.request({ path: '/', method: 'GET', headers: { authorization: `Bearer ${token}` } });
  await r.body.dump();
  return r.statusCode;
}

/** Back-to-back GETs until the first 401 (or give-up); `started` after the first answer. */
function probe(c: Client, token: string, giveUpAt: () => number): { started: Promise<void>; done: Promise<number | null> } {
  let go!: () => void;
  const started = new Promise<void>((r) => { go = r; });
  const done = (async (): Promise<number | null> => {
    let first = true;
    for (;;) {
      const s = await status(c, token);
      const at = performance.now();
      if (first) { first = false; go(); }
      if (s === 401) return at;
      if (at > giveUpAt()) return null;
    }
  })();
  done.catch(() => go());
  return { started, done };
}

export interface IdpSummary {
  origin: Quantiles; others: Quantiles; slowest: Quantiles; pushAnswered: Quantiles; notRefused: number;
  /** The same, for the interleaved POST /revocations rounds. */
  baseline: { origin: Quantiles; others: Quantiles; slowest: Quantiles; answered: Quantiles; notRefused: number };
  throughput: { events: number; accepted: number; other: Record<string, number>; seconds: number; perSecond: number };
  load: PacedLoadReport | null; foreignCores: number | null;
}

export function idpTables(s: IdpSummary, f: IdpFlags, warnings: readonly string[]): string {
  const q = (name: string, x: Quantiles): string[] => [name, cell(x.n, 0), cell(x.p50, 3), cell(x.p99, 3), cell(x.max, 3)];
  return [
    `**Identity-provider event propagation** — 3 members on one nats-server (JetStream), ${f.events} CAEP session-revoked SETs (ES256, complex subject → kind \`sid\`) pushed (RFC 8935) to one member, origin rotating, ${f.gapMs}–${f.gapMs + f.gapJitterMs} ms apart; each member under ${f.ratePerMember} rps of background load (warm token, paced, own process); one back-to-back prober per member. Clock: ${f.clock}. Target: every member p99 ≤ 10 ms. Refusals missing after ${GIVE_UP_MS} ms: ${s.notRefused}. Foreign CPU (cores used outside the bench): ${cell(s.foreignCores)}.`,
    '',
    markdownTable(['SET push sent → first 401', 'n', 'p50 ms', 'p99 ms', 'max ms'], [
      q('origin member (took the push)', s.origin), q('other members (each)', s.others),
      q('**every member (slowest of 3 per event)**', s.slowest), q('push answered 202 (revocation stored in JetStream)', s.pushAnswered),
      q('baseline, interleaved: POST /revocations (kind sid) → first 401, origin', s.baseline.origin),
      q('baseline: other members (each)', s.baseline.others),
      q('**baseline: every member (slowest of 3)**', s.baseline.slowest),
      q('baseline: POST answered 201', s.baseline.answered),
    ], [false, true, true, true, true]),
    '',
    `Ratio SET push / admin POST, slowest member: p50 ${ratio(s.slowest.p50, s.baseline.slowest.p50)}, p99 ${ratio(s.slowest.p99, s.baseline.slowest.p99)}.`,
    '',
    `**Accept rate of one member** — ${s.throughput.events} pre-signed SETs (RISC account-disabled, distinct jti and user: each one a new revocation, stored in JetStream before the 202), ${f.throughputConnections} connections closed loop, background load stopped: **${cell(s.throughput.perSecond, 0)} events/s** (${s.throughput.accepted} × 202 in ${cell(s.throughput.seconds, 2)} s${Object.keys(s.throughput.other).length > 0 ? `; other answers ${JSON.stringify(s.throughput.other)}` : ''}).`,
    ...warnings.map((w) => `\n> **Warning:** ${w}`),
  ].join('\n');
}

const ratio = (a: number | null, b: number | null): string => (a === null || b === null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`);
const say = (s: string): void => { process.stdout.write(s + '\n'); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function idpEventPropagation(opts: ScenarioOptions): Promise<ScenarioReport> {
  const f: IdpFlags = {
    ...DEFAULT_IDP_FLAGS,
    events: envInt('PORTCULLIS_BENCH_IDP_EVENTS', 1) ?? (opts.quick ? 20 : DEFAULT_IDP_FLAGS.events),
    ratePerMember: envInt('PORTCULLIS_BENCH_CLUSTER_RATE', 0) ?? DEFAULT_IDP_FLAGS.ratePerMember,
    throughputEvents: opts.quick ? 300 : DEFAULT_IDP_FLAGS.throughputEvents,
  };
  const plan: CpuPlan = { loader: [], upstream: [], proxy: [], note: 'no pinning: 3 members, nats-server, AS, upstream, transmitter + probers (bench process) and the background-load process share every core' };
  if (natsServerBin() === undefined) throw new Error('idp-event-propagation needs nats-server: apt-get install -y nats-server');
  const stops: Array<() => Promise<void>> = [];
  const clients: Client[] = [];
  try {
    const { nats, as, upstream, env, adminToken, prefix } = await startClusterPeers(stops);
    const tx = await startTransmitter();
    stops.push(() => tx.close());
    const members: Member[] = await startMembers(MEMBER_IDS, (id) => `${memberConfigYaml({
      upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['ES256'], cluster: { natsUrl: nats.url, prefix, memberId: id },
    })}event_sources:
  bench:
    issuer: "${tx.issuer}"
    audiences: ["${AUDIENCE}"]
    algorithms: [ES256]
    max_age_s: 3600
    push: { path: ${PUSH_PATH}, authorization_env: ${PUSH_ENV} }
    token_issuer: "${as.issuer}"
`, { ...env, [PUSH_ENV]: PUSH_AUTH });
    for (const m of members) stops.push(() => m.stop());
    await Promise.all(members.map((m) => waitReady(m)));
    await waitMembership(members, adminToken, members.length);
    const [loadToken] = await as.mint({ kind: 'jwt', alg: 'ES256', count: 1 });
    for (const m of members) await waitUntilServing(m.id, m.url + '/', { authorization: `Bearer ${loadToken!}` });
    for (const m of members) clients.push(new Client(m.url, { pipelining: 1, keepAliveTimeout: 60_000 }));
    const pushers = members.map((m) => new Client(m.url, { pipelining: 1, keepAliveTimeout: 60_000 }));
    clients.push(...pushers);
    // the transmitter's keys are fetched on the first push: one throwaway event per member
    for (const p of pushers) {
      const s = await push(p, await tx.sign(SESSION_REVOKED, {}, { format: 'complex', session: { format: 'opaque', id: `warm-${randomUUID()}` } }));
      if (s !== 202) throw new Error(`warm-up push answered ${s}`);
    }
    const spec: PacedLoadSpec = { urls: members.map((m) => m.url), rate: f.ratePerMember, path: '/', headers: { authorization: `Bearer ${loadToken!}` }, connections: f.loadConnections };
    const { process: loader } = await startProcess({
      name: 'paced-load', command: process.execPath, args: [join(compiledRoot(), 'bench', 'paced-load-process.js'), JSON.stringify(spec)],
      ready: (line) => (line.includes('"ready":true') ? true : undefined),
    });
    let loaderStopped = false;
    const stopLoader = async (): Promise<void> => { if (!loaderStopped) { loaderStopped = true; await loader.stop(); } };
    stops.push(stopLoader);
    await sleep(opts.quick ? 500 : 2_000);

    const ownPids = [nats.process.pid, as.process.pid, upstream.process.pid, loader.pid, ...members.map((m) => m.process.pid)];
    const foreign = watchForeignCpu(ownPids);
    const refused: Array<Array<number | null>> = [];
    const origins: number[] = [];
    const answered: number[] = [];
    const probeClients = clients.slice(0, members.length);
    const admins = members.map((m) => new Client(`http://127.0.0.1:${m.adminPort}`, { pipelining: 1, keepAliveTimeout: 60_000 }));
    clients.push(...admins);
    for (const a of admins) await (await a.request({ path: '/healthz', method: 'GET' })).body.dump();
    const base: { refused: Array<Array<number | null>>; origins: number[]; answered: number[] } = { refused: [], origins: [], answered: [] };
    // rounds alternate SET push / admin POST (2 × events rounds), so both see the same machine
    for (let k = 0; k < 2 * f.events; k++) {
      const viaAdmin = k % 2 === 1;
      const i = k >> 1;
      const sid = `bench-${randomUUID()}`;
      const [token] = await as.mint({ kind: 'jwt', alg: 'ES256', count: 1, claims: { sid } });
      for (const c of probeClients) if ((await status(c, token!)) !== 200) throw new Error('fresh token refused before its event (warm step)');
      const set = await tx.sign(SESSION_REVOKED, {}, { format: 'complex', session: { format: 'opaque', id: sid } });
      let t0 = Number.POSITIVE_INFINITY;
      const probers = probeClients.map((c) => probe(c, token!, () => t0 + GIVE_UP_MS));
      await Promise.all(probers.map((p) => p.started));
      const origin = i % members.length;
      t0 = performance.now();
      if (viaAdmin) {
        const r = await revokeAt(admins[origin]!, adminToken, { kind: 'sid', value: sid, issuer: as.issuer, reason: 'bench' });
        base.answered.push(r.answeredAt - t0);
        if (r.status !== 201) throw new Error(`POST /revocations at ${members[origin]!.id} answered ${r.status}`);
      } else {
        const s = await push(pushers[origin]!, set);
        answered.push(performance.now() - t0);
        if (s !== 202) throw new Error(`push at ${members[origin]!.id} answered ${s}`);
      }
      const res = await Promise.all(probers.map((p) => p.done));
      (viaAdmin ? base.refused : refused).push(res.map((r) => (r === null ? null : r - t0)));
      (viaAdmin ? base.origins : origins).push(origin);
      if (!viaAdmin && ((i + 1) % 50 === 0 || i + 1 === f.events)) {
        const sl = quantiles(refused.slice(-50).map((r) => (r.some((x) => x === null) ? null : Math.max(...(r as number[])))));
        say(`  ${i + 1}/${f.events} events  slowest member (last 50): p50 ${cell(sl.p50, 3)} ms  p99 ${cell(sl.p99, 3)} ms  max ${cell(sl.max, 3)} ms`);
      }
      await sleep(f.gapMs + Math.random() * f.gapJitterMs);
    }
    const foreignCores = foreign() ?? null;
    await stopLoader();
    const load = parsePacedLoadReport(loader.output());

    // accept rate of one member: distinct users (each SET a new revocation), pre-signed so signing is not measured
    say(`  accept rate: signing ${f.throughputEvents} SETs`);
    const sets = await Promise.all(Array.from({ length: f.throughputEvents }, (_, i) => tx.sign(ACCOUNT_DISABLED, {}, { format: 'iss_sub', iss: as.issuer, sub: `bench-user-${i}-${randomUUID()}` })));
    const target = new Pool(members[0]!.url, { connections: f.throughputConnections, pipelining: 1, keepAliveTimeout: 60_000 });
    stops.push(() => target.close());
    let next = 0;
    let accepted = 0;
    const other: Record<string, number> = {};
    const t1 = performance.now();
    await Promise.all(Array.from({ length: f.throughputConnections }, async () => {
      while (next < sets.length) {
        const s = await push(target, sets[next++]!);
        if (s === 202) accepted++; else other[s] = (other[s] ?? 0) + 1;
      }
    }));
    const seconds = (performance.now() - t1) / 1000;

    const summary: IdpSummary = {
      origin: quantiles(refused.map((r, i) => r[origins[i]!] ?? null)),
      others: quantiles(refused.flatMap((r, i) => r.filter((_, j) => j !== origins[i]))),
      slowest: quantiles(refused.map((r) => (r.some((x) => x === null) ? null : Math.max(...(r as number[]))))),
      pushAnswered: quantiles(answered),
      notRefused: refused.reduce((n, r) => n + r.filter((x) => x === null).length, 0),
      baseline: {
        origin: quantiles(base.refused.map((r, i) => r[base.origins[i]!] ?? null)),
        others: quantiles(base.refused.flatMap((r, i) => r.filter((_, j) => j !== base.origins[i]))),
        slowest: quantiles(base.refused.map((r) => (r.some((x) => x === null) ? null : Math.max(...(r as number[]))))),
        answered: quantiles(base.answered),
        notRefused: base.refused.reduce((n, r) => n + r.filter((x) => x === null).length, 0),
      },
      throughput: { events: sets.length, accepted, other, seconds, perSecond: accepted / seconds },
      load, foreignCores,
    };
    const warnings: string[] = [];
    if (foreignCores !== null && foreignCores > 0.1) warnings.push(`other processes used ${foreignCores.toFixed(2)} cores during the measurement: the machine was shared, tails are disturbed`);
    if (summary.notRefused > 0) warnings.push(`${summary.notRefused} member(s) still accepted a token ${GIVE_UP_MS} ms after its session-revoked push`);
    if (load !== null) for (const [i, t] of load.targets.entries()) {
      if (t.non2xx + t.errors > 0) warnings.push(`background load at ${MEMBER_IDS[i]}: ${t.non2xx} non-2xx, ${t.errors} errors`);
    }
    return {
      scenario: 'idp-event-propagation', quick: opts.quick, flags: { ...f, giveUpMs: GIVE_UP_MS, members: MEMBER_IDS.length },
      cpuPlan: plan, peers: { 'nats-server': nats.version }, skipped: {},
      rounds: { refused, origins, answered, baseline: base }, summary, warnings, table: idpTables(summary, f, warnings),
    };
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}
