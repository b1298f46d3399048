// Issue 9 item 2: whoever can publish on the bus must not grant access nor deny it at will.
// Two `portcullis serve` processes on a real nats-server with a shared bus key: a forged
// `cache.filled` (no MAC, a foreign key, a tampered MAC) leaves the attacker's token 401 and
// is counted, forged heartbeats once each; a forged revocation (live and stored in the stream) revokes nothing, not even
// for a member that replays it later; a properly keyed fill with a ten-year `expiresAt` is
// capped by cache_ttl_s; a keyed `sub` revocation with `before` ten years ahead is refused;
// the revocation store is bounded (admin 507, and a bus revocation beyond the bound closes
// the gate instead of being lost); a keyed fill replayed late or on another subject is refused,
// and an authentic one is held to the issuer's introspection rules (iss, dates).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { request } from 'undici';
import { BusAuth, Codec, type BusMessage } from '../../../cluster/protocol/index.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { busSection, clusterMemberConfig, subjectPrefix } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, ADMIN_TOKEN, readyz, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, jtiOf, revoked } from './proxy-fixtures.js';
import { sourceValue } from '../../../node/metrics/index.js';
import { waitFor } from '../../helpers/wait.js';

const BUS_KEY = randomBytes(48).toString('base64');
const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret', PT_BUS_KEY: BUS_KEY };
const sha256hex = (t: string): string => createHash('sha256').update(t).digest('hex');
const nowS = (): number => Math.floor(Date.now() / 1000);
const TEN_YEARS_S = 10 * 365 * 86_400;

function proxyConfig(as: AuthServer, upstream: string, cluster: Record<string, unknown>): Record<string, unknown> {
  return clusterMemberConfig({
    issuers: {
      demo: {
        issuer: as.issuer, audiences: ['portcullis-demo'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 2, negative_ttl_s: 1 },
      },
    },
    upstreams: { app: { targets: [upstream] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    cluster,
  });
}

interface Answer { status: number; subject: string | null; challenge: string }

async function call(p: ProxyProcess, token: string): Promise<Answer> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.body.text();
  let subject: string | null = null;
  if (r.statusCode === 200) subject = String((JSON.parse(text) as { headers: Record<string, string> }).headers['x-auth-subject'] ?? '');
  return { status: r.statusCode, subject, challenge: String(r.headers['www-authenticate'] ?? '') };
}

async function clusterMetric(p: ProxyProcess, name: string): Promise<number> {
  const r = await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  // the family a cluster counter is exported as (node/metrics/component-families.ts), in the counter's own unit
  const v = sourceValue(await r.body.text(), `cluster.${name}`);
  return Number.isNaN(v) ? -1 : v;
}

describe('bus messages are authenticated and bounded (two proxies on one nats-server)', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let attacker: NatsConnection;
  const proxies: ProxyProcess[] = [];
  const P = subjectPrefix('pba');
  const cluster = (prefix = P, extra: Record<string, unknown> = {}): Record<string, unknown> => busSection(nats.url, prefix, { heartbeat_ms: 200, ...extra });
  const codec = new Codec();
  const keyed = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
  let A: ProxyProcess;
  let B: ProxyProcess;

  const start = async (c: Record<string, unknown>): Promise<ProxyProcess> => {
    const p = await startProxy(proxyConfig(as, echo.url, c), { env: ENV, timeoutMs: 30_000 });
    proxies.push(p);
    return p;
  };
  const fill = (token: string, claims: Record<string, unknown>, expiresAt: number): BusMessage => ({
    type: 'cache.filled', v: 1, key: sha256hex(token), issuer: 'demo', active: true, claims, expiresAt, origin: 'member-x',
  });
  const revocation = (o: { kind: 'jti' | 'sub'; value: string; before?: number | null; expiresAt?: number }): BusMessage => ({
    type: 'revocation.added', v: 1, id: randomUUID(), kind: o.kind, value: o.value, issuer: null, before: o.before ?? null,
    expiresAt: o.expiresAt ?? nowS() + 3600, reason: null, createdAt: Date.now(), origin: 'member-x', publishedAt: Date.now(),
  });

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    attacker = await connect({ servers: nats.url, name: 'bus publisher without the key' });
    [A, B] = await Promise.all([start(cluster()), start(cluster())]);
    await Promise.all([A, B].map((p) => waitFor('ready', async () => (await readyz(p)).status === 200, 20_000)));
  });
  afterAll(async () => {
    await attacker?.close();
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('a forged cache.filled (no MAC, a foreign key, a tampered MAC) grants nothing: the token stays 401 at both, counted by reason', async () => {
    const token = `attacker-chosen-${randomUUID()}`;
    const subj = `${P}.cache.introspection`;
    const forged = codec.encode(fill(token, { sub: 'admin', scope: 'orders:read admin', iss: as.issuer }, Date.now() + TEN_YEARS_S * 1000));
    attacker.publish(subj, forged);
    attacker.publish(subj, new BusAuth({ key: randomBytes(48) }).seal(subj, forged));
    const tampered = keyed.seal(subj, forged);
    tampered[tampered.length - 3] ^= 0x01;
    attacker.publish(subj, tampered);
    await attacker.flush();
    for (const p of [A, B]) {
      await waitFor('the unsigned fill to be refused', async () => (await clusterMetric(p, 'bus_rejected_unsigned_total')) >= 1, 5_000);
      await waitFor('the foreign-key fill to be refused', async () => (await clusterMetric(p, 'bus_rejected_unknown_key_total')) >= 1, 5_000);
      await waitFor('the tampered fill to be refused', async () => (await clusterMetric(p, 'bus_rejected_bad_mac_total')) >= 1, 5_000);
      const a = await call(p, token);
      expect(a.status).toBe(401);
      expect(a.subject).toBeNull();
    }
  });

  it('forged heartbeats leave the member view alone and are counted once each (before: twice, and checked twice)', async () => {
    const subj = `${P}.members`;
    const beat = codec.encode({ type: 'member.heartbeat', v: 1, id: 'forged-member', role: 'single', host: 'x', pid: 1, startedAt: Date.now(), seq: 1, intervalMs: 1_000 });
    const [unsigned, foreign] = [await clusterMetric(A, 'bus_rejected_unsigned_total'), await clusterMetric(A, 'bus_rejected_unknown_key_total')];
    for (let i = 0; i < 10; i++) attacker.publish(subj, beat);
    // then one under a foreign key: one connection, one subject, delivered in order — once it is counted, the ten were judged
    attacker.publish(subj, new BusAuth({ key: randomBytes(48) }).seal(subj, beat));
    await attacker.flush();
    await waitFor('A to refuse the foreign-key heartbeat', async () => (await clusterMetric(A, 'bus_rejected_unknown_key_total')) > foreign, 5_000);
    expect(await clusterMetric(A, 'bus_rejected_unsigned_total') - unsigned).toBe(10);
    expect(await clusterMetric(A, 'bus_rejected_unknown_key_total') - foreign).toBe(1);
    expect((await readyz(A)).body.cluster.members).toBe(2);
  });

  it('a forged revocation, live and stored in the stream, revokes nothing — not even at a member that replays it later', async () => {
    const tok = await as.issueJwt({ sub: 'victim' });
    expect((await call(A, tok)).status).toBe(200);
    const before = await clusterMetric(A, 'bus_rejected_unsigned_total');
    const bytes = codec.encode(revocation({ kind: 'jti', value: jtiOf(tok) }));
    attacker.publish(`${P}.revocations.jti`, bytes);
    await attacker.jetstream().publish(`${P}.revocations.jti`, bytes);
    await waitFor('A to refuse both copies', async () => (await clusterMetric(A, 'bus_rejected_unsigned_total')) >= before + 2, 5_000);
    expect((await call(A, tok)).status).toBe(200);
    expect((await call(B, tok)).status).toBe(200);
    const C = await start(cluster());
    await waitFor('C to be ready', async () => (await readyz(C)).status === 200, 20_000);
    expect(await clusterMetric(C, 'bus_rejected_unsigned_total')).toBeGreaterThanOrEqual(1);
    expect((await call(C, tok)).status).toBe(200);
    // the real thing still works, and reaches C
    expect((await admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    await waitFor('C to refuse the token revoked at A', async () => revoked(await call(C, tok)), 5_000);
  }, 90_000); // starts another proxy

  it('a keyed fill replayed past max_age_ms or sealed for another subject is refused; an authentic one naming another iss or a string exp is held to the issuer\'s rules (401)', async () => {
    const subj = `${P}.cache.introspection`;
    const [stale, moved, foreignIss, stringExp, control] = ['stale', 'moved', 'iss', 'exp', 'control'].map((n) => `keyed-${n}-${randomUUID()}`) as [string, string, string, string, string];
    const claims = { sub: 'svc', scope: 'orders:read', iss: as.issuer, exp: nowS() + 60 };
    const bytes = (token: string, c: Record<string, unknown> = claims): Uint8Array => codec.encode(fill(token, c, Date.now() + 60_000));
    const [staleBefore, macBefore] = [await clusterMetric(A, 'bus_rejected_stale_total'), await clusterMetric(A, 'bus_rejected_bad_mac_total')];
    const judged = async (): Promise<number> => (await clusterMetric(A, 'cluster_cache_fills_received_total')) + (await clusterMetric(A, 'cluster_cache_fills_refused_total')) + (await clusterMetric(A, 'cluster_cache_fills_ignored_total'));
    const judgedBefore = await judged();
    attacker.publish(subj, keyed.seal(subj, bytes(stale), null, Date.now() - 60_000)); // captured a minute ago
    attacker.publish(subj, keyed.seal(`${P}.revocations.jti`, bytes(moved))); // sealed for another subject
    attacker.publish(subj, keyed.seal(subj, bytes(foreignIss, { ...claims, iss: 'https://evil.example' })));
    attacker.publish(subj, keyed.seal(subj, bytes(stringExp, { ...claims, exp: String(nowS() + TEN_YEARS_S) })));
    attacker.publish(subj, keyed.seal(subj, bytes(control)));
    await attacker.flush();
    // the three authentic fills reached A before any call: a call first would make A ask the server
    // (unknown token: inactive), and that newer answer rightly replaces the fill everywhere
    await waitFor('A to take the three authentic fills', async () => (await judged()) >= judgedBefore + 3, 5_000);
    // one connection, one subject: the control arrives after the others, so once it is served they were judged
    await waitFor('A to serve the control fill', async () => (await call(A, control)).status === 200, 5_000);
    expect(await clusterMetric(A, 'bus_rejected_stale_total')).toBeGreaterThan(staleBefore);
    expect(await clusterMetric(A, 'bus_rejected_bad_mac_total')).toBeGreaterThan(macBefore);
    for (const token of [stale, moved, foreignIss, stringExp]) expect((await call(A, token)).status, token.split('-')[1]).toBe(401);
  });

  it('a properly keyed fill with expiresAt ten years ahead is capped by cache_ttl_s: the token is re-introspected (inactive → 401)', async () => {
    const token = `keyed-fill-${randomUUID()}`; // unknown to the authorization server
    const subj = `${P}.cache.introspection`;
    const capped = await clusterMetric(A, 'cluster_cache_fills_capped_total');
    // the claims' exp within cluster.revocation.max_token_lifetime_s (a longer one is refused outright): the fill's expiresAt is the subject here;
    // it names iss, as every active answer a member of this build shares does (an iss-less v1 is not taken: no_iss_v1)
    attacker.publish(subj, keyed.seal(subj, codec.encode(fill(token, { sub: 'svc', scope: 'orders:read', iss: as.issuer, exp: nowS() + 3600 }, Date.now() + TEN_YEARS_S * 1000))));
    await attacker.flush();
    // taken (and capped) before the first call: a call first would make A ask the server (inactive), a newer answer than the fill
    await waitFor('A to take and cap the keyed fill', async () => (await clusterMetric(A, 'cluster_cache_fills_capped_total')) > capped, 5_000);
    // authentic: served from the shared cache without asking the server …
    await waitFor('A to serve the keyed fill', async () => (await call(A, token)).status === 200, 5_000);
    // … but only for cache_ttl_s (2 s), not ten years
    await waitFor('the capped result to expire and the token to be refused', async () => (await call(A, token)).status === 401, 10_000);
    expect((await call(B, token)).status).toBe(401);
  });

  it('a properly keyed sub revocation with before ten years ahead is refused like the admin API refuses it (every later token would be refused)', async () => {
    const tok = await as.issueJwt({ sub: 'alice' });
    expect((await call(A, tok)).status).toBe(200);
    const subj = `${P}.revocations.sub`;
    const invalid = await clusterMetric(B, 'bus_rejected_invalid_total');
    await attacker.jetstream().publish(subj, keyed.seal(subj, codec.encode(revocation({ kind: 'sub', value: 'alice', before: nowS() + TEN_YEARS_S }))));
    await waitFor('B to refuse it', async () => (await clusterMetric(B, 'bus_rejected_invalid_total')) > invalid, 5_000);
    const later = await as.issueJwt({ sub: 'alice' });
    for (const p of [A, B]) {
      expect((await call(p, tok)).status).toBe(200);
      expect((await call(p, later)).status).toBe(200);
    }
    expect((await admin(A, 'POST', '/revocations', { kind: 'sub', value: 'alice', before: nowS() + TEN_YEARS_S })).status).toBe(400);
  });

  it('the revocation store is bounded: the admin API answers 507 at the bound, and one from the bus beyond it closes the gate (never lost silently)', async () => {
    const Q = `pbb${Math.random().toString(36).slice(2, 8)}`;
    const D = await start(cluster(Q, { revocation: { max_entries: 3 } }));
    await waitFor('D to be ready', async () => (await readyz(D)).status === 200, 20_000);
    const tok = await as.issueJwt({ sub: 'bounded' });
    expect((await call(D, tok)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await admin(D, 'POST', '/revocations', { kind: 'jti', value: `fill-${i}` })).status).toBe(201);
    const full = await admin(D, 'POST', '/revocations', { kind: 'jti', value: 'one-too-many' });
    expect(full.status).toBe(507);
    expect(full.body.message).toMatch(/max_entries/);
    expect((await call(D, tok)).status).toBe(200);
    // another member (bigger bound) publishes one more: D cannot hold it, so it cannot judge tokens until it expires
    const subj = `${Q}.revocations.jti`;
    attacker.publish(subj, keyed.seal(subj, codec.encode(revocation({ kind: 'jti', value: 'beyond-the-bound', expiresAt: nowS() + 600 }))));
    await attacker.flush();
    await waitFor('D to close its gate', async () => (await call(D, tok)).status === 503, 5_000);
    const rz = await readyz(D);
    expect(rz.status).toBe(503);
    expect(rz.body.cluster.waiting_for).toBe('revocations_incomplete');
    // once live, once more from the stream (core publishes on the subjects are stored too)
    expect(await clusterMetric(D, 'revocations_refused_full_total')).toBeGreaterThanOrEqual(1);
  }, 90_000); // starts another proxy
});
