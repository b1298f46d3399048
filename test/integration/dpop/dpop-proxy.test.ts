// DPoP (RFC 9449) through real proxies: two `portcullis serve` processes on one real
// nats-server, the demo authorization server minting cnf.jkt-bound tokens, proofs built
// with jose as a client library would. Valid → 200; a replayed proof → 401 at the same
// instance and at the other one (also when both get it at the same moment); wrong htu,
// htm, ath or key → 401; a bound token as Bearer → 401; nonce flow; a DPoP-only route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { clusterMemberConfig, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { NonceSource } from '../../../node/dpop/nonce.js';
import { clientKey, proof, type ClientKey } from '../../unit/dpop/dpop-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_DPOP_NONCE_SECRET: 'integration-test-nonce-secret-0123456789' };

function proxyConfig(as: AuthServer, upstream: string, nats: string): Record<string, unknown> {
  return clusterMemberConfig({
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [upstream] } },
    routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
      { name: 'nonce', match: { path: '/nonce/*' }, upstream: 'app', auth: { dpop: { nonce: true } } },
      { name: 'dpop-only', match: { path: '/strict/*' }, upstream: 'app', auth: { dpop: { required: true } } },
      { name: 'stripped', match: { path: '/stripped/*' }, upstream: 'app', auth: {}, forward: { authorization: 'strip' } },
    ],
    // generous: the machine is shared; a timeout would turn the strict check into a local one
    dpop: { replay: { owner_timeout_ms: 3_000 }, nonce: { secret_env: 'PT_DPOP_NONCE_SECRET' } },
    cluster: { nats: { servers: [nats] }, auth: BUS_AUTH },
  });
}

interface Answer { status: number; challenge: string; nonce: string | undefined; body: any }

async function send(p: ProxyProcess, path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  const r = await request(`${p.url}${path}`, { method: method as 'GET', headers });
  const text = await r.body.text();
  let body: unknown = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? ''), nonce: r.headers['dpop-nonce'] as string | undefined, body };
}

/** `Authorization: DPoP <token>` plus a fresh proof for `path` at proxy `p`. */
async function dpopCall(p: ProxyProcess, key: ClientKey, token: string, path = '/api/orders', o: Parameters<typeof proof>[1] = {}): Promise<{ answer: Answer; proof: string }> {
  const pr = await proof(key, { htu: `${p.url}${path}`, token, ...o });
  return { answer: await send(p, path, { authorization: `DPoP ${token}`, dpop: pr }), proof: pr };
}

const invalidProof = (a: Answer): void => {
  expect(a.status).toBe(401);
  expect(a.challenge).toMatch(/^DPoP realm="portcullis", error="invalid_dpop_proof", error_description="[^"]+", algs="ES256 ES384 EdDSA PS256 RS256"$/);
  expect(a.body).toMatchObject({ error: 'invalid_dpop_proof', code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
};

describe('DPoP through two proxies on one nats-server', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: NatsServer & { stop(): Promise<void> };
  let a: ProxyProcess;
  let b: ProxyProcess;
  let key: ClientKey;
  let token: string;

  beforeAll(async () => {
    [as, echo, nats, key] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream(), startNatsServer(), clientKey('ES256')]);
    token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    [a, b] = await Promise.all([
      startProxy(proxyConfig(as, echo.url, nats.url), { env: ENV }),
      startProxy(proxyConfig(as, echo.url, nats.url), { env: ENV }),
    ]);
    await Promise.all([waitReadyWithMembers(a, 2), waitReadyWithMembers(b, 2)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([as?.close(), echo?.close(), nats?.stop()]);
  });

  it('forwards a request with a valid proof (200), with the DPoP credentials passed on', async () => {
    const { answer } = await dpopCall(a, key, token);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const seen = answer.body as { headers: Record<string, string> };
    expect(seen.headers.authorization).toBe(`DPoP ${token}`);
    expect(typeof seen.headers.dpop).toBe('string');
  });

  it('refuses a token bound to a client certificate (cnf.x5t#S256): it cannot check mutual TLS, so it does not drop the binding', async () => {
    const mtlsBound = await as.issueJwt({ cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } });
    const before = echo.requests;
    const r = await send(a, '/api/orders', { authorization: `Bearer ${mtlsBound}` });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/^Bearer realm="portcullis", error="invalid_token", error_description="token is bound by a confirmation method/);
    expect(echo.requests).toBe(before);
  });

  it('a route that strips the Authorization header strips the proof with it', async () => {
    const { answer } = await dpopCall(a, key, token, '/stripped/orders');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const seen = answer.body as { headers: Record<string, string> };
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.dpop).toBeUndefined();
    expect(seen.headers['x-auth-subject']).toBe('alice');
  });

  it('refuses the same proof again at the same instance and at the other instance', async () => {
    const { answer, proof: p } = await dpopCall(a, key, token);
    expect(answer.status).toBe(200);
    const again = await send(a, '/api/orders', { authorization: `DPoP ${token}`, dpop: p });
    invalidProof(again);
    expect(again.challenge).toContain('replayed');
    // htu names the proxy the client called; the replay at B carries B's own URI so only the jti decides
    const pb = await proof(key, { htu: `${b.url}/api/orders`, token, jti: 'replay-across-instances' });
    expect((await send(b, '/api/orders', { authorization: `DPoP ${token}`, dpop: pb })).status).toBe(200);
    invalidProof(await send(a, '/api/orders', { authorization: `DPoP ${token}`, dpop: await proof(key, { htu: `${a.url}/api/orders`, token, jti: 'replay-across-instances' }) }));
    invalidProof(await send(b, '/api/orders', { authorization: `DPoP ${token}`, dpop: pb }));
  });

  it('lets exactly one of two simultaneous uses of one jti through (the owner decides, no race window)', async () => {
    for (let i = 0; i < 10; i++) {
      const jti = `race-${i}-${Date.now()}`;
      const [pa, pb] = await Promise.all([
        proof(key, { htu: `${a.url}/api/orders`, token, jti }),
        proof(key, { htu: `${b.url}/api/orders`, token, jti }),
      ]);
      const [ra, rb] = await Promise.all([
        send(a, '/api/orders', { authorization: `DPoP ${token}`, dpop: pa }),
        send(b, '/api/orders', { authorization: `DPoP ${token}`, dpop: pb }),
      ]);
      expect([ra.status, rb.status].sort(), jti).toEqual([200, 401]);
    }
  });

  it('refuses a DPoP-bound token presented as Bearer, with the DPoP challenge', async () => {
    const r = await send(a, '/api/orders', { authorization: `Bearer ${token}`, dpop: await proof(key, { htu: `${a.url}/api/orders`, token }) });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/^DPoP realm="portcullis", error="invalid_token", error_description="[^"]+", algs="/);
    expect(r.body).toMatchObject({ error: 'invalid_token', code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
  });

  it('refuses proofs for another URI, method, token or key, and a missing proof', async () => {
    invalidProof((await dpopCall(a, key, token, '/api/orders', { htu: `${a.url}/api/other` })).answer);
    invalidProof((await dpopCall(a, key, token, '/api/orders', { htu: `${b.url}/api/orders` })).answer);
    invalidProof((await dpopCall(a, key, token, '/api/orders', { htm: 'POST' })).answer);
    invalidProof((await dpopCall(a, key, token, '/api/orders', { token: await as.issueJwt({ cnf: { jkt: key.jkt } }) })).answer);
    invalidProof((await dpopCall(a, await clientKey('ES256'), token)).answer);
    invalidProof(await send(a, '/api/orders', { authorization: `DPoP ${token}` }));
    // the query is not part of htu
    expect((await dpopCall(a, key, token, '/api/orders?page=2', { htu: `${a.url}/api/orders` })).answer.status).toBe(200);
  });

  it('refuses an unbound token sent with the DPoP scheme; serves it as Bearer', async () => {
    const plain = await as.issueJwt();
    const r = await send(a, '/api/orders', { authorization: `DPoP ${plain}`, dpop: await proof(key, { htu: `${a.url}/api/orders`, token: plain }) });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/^DPoP realm="portcullis", error="invalid_token"/);
    expect((await send(a, '/api/orders', { authorization: `Bearer ${plain}` })).status).toBe(200);
  });

  it('nonce route: 401 use_dpop_nonce with DPoP-Nonce, then 200 with it — also at the other instance', async () => {
    const first = (await dpopCall(a, key, token, '/nonce/x')).answer;
    expect(first.status).toBe(401);
    expect(first.challenge).toMatch(/^DPoP realm="portcullis", error="use_dpop_nonce", error_description="[^"]+", algs="/);
    expect(first.body).toMatchObject({ error: 'use_dpop_nonce', code: 'PORTCULLIS_ERR_DPOP_NONCE_REQUIRED' });
    expect(first.nonce).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/);
    expect((await dpopCall(a, key, token, '/nonce/x', { nonce: first.nonce! })).answer.status).toBe(200);
    expect((await dpopCall(b, key, token, '/nonce/x', { nonce: first.nonce! })).answer.status).toBe(200);
    const wrong = (await dpopCall(a, key, token, '/nonce/x', { nonce: 'stale' })).answer;
    expect(wrong.status).toBe(401);
    expect(wrong.nonce).toBe(first.nonce);
  });

  it('nonce route: a proof with the previous nonce passes and the 200 carries the current one in DPoP-Nonce', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const nonces = new NonceSource(Buffer.from(ENV.PT_DPOP_NONCE_SECRET), 300);
    const previous = nonces.current(nowS - 300);
    const r = (await dpopCall(b, key, token, '/nonce/aging', { nonce: previous })).answer;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.nonce).toBe(nonces.current(nowS));
    // with the current nonce there is nothing new to hand out
    const again = (await dpopCall(b, key, token, '/nonce/aging', { nonce: r.nonce! })).answer;
    expect(again.status).toBe(200);
    expect(again.nonce).toBeUndefined();
  });

  it('DPoP-only route: an unbound Bearer token and a missing token get the DPoP challenge; a bound token with a proof passes', async () => {
    const plain = await as.issueJwt();
    const r = await send(a, '/strict/x', { authorization: `Bearer ${plain}` });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/^DPoP realm="portcullis", error="invalid_token"/);
    const none = await send(a, '/strict/x', {});
    expect(none.status).toBe(401);
    expect(none.challenge).toBe('DPoP realm="portcullis", algs="ES256 ES384 EdDSA PS256 RS256"');
    expect((await dpopCall(a, key, token, '/strict/x')).answer.status).toBe(200);
  });

  it('counts proofs, replays and owner round trips in the metrics', async () => {
    const stats = async (p: ProxyProcess): Promise<Record<string, number>> => {
      const r = await request(`${p.adminUrl}/cache/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return await r.body.json() as Record<string, number>;
    };
    const [sa, sb] = await Promise.all([stats(a), stats(b)]);
    expect(sa['dpop.proofs_accepted']).toBeGreaterThan(0);
    expect(sa['dpop.proofs_refused']).toBeGreaterThan(0);
    expect(sa['dpop.replay_owner_asked']! + sb['dpop.replay_owner_asked']!).toBeGreaterThan(0);
    expect(sa['dpop.replay_sync_claims_served']! + sb['dpop.replay_sync_claims_served']!).toBeGreaterThan(0);
    expect(sa['dpop.replay_sync_seen_received']! + sb['dpop.replay_sync_seen_received']!).toBeGreaterThan(0);
    expect(sa['dpop.replay_fallback_local']! + sb['dpop.replay_fallback_local']!).toBe(0);
  });
});

describe('DPoP replay across node:cluster workers (serve --workers 2, no NATS)', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream()]);
    const cfg = proxyConfig(as, echo.url, 'unused');
    delete cfg.cluster;
    cfg.log = { level: 'info', access: true };
    proxy = await startProxy(cfg, { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    await waitReady(proxy, 30_000);
    await new Promise((res) => setTimeout(res, 2_500)); // workers hear each other's heartbeats
  }, 90_000);

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('a proof is accepted once whichever worker gets it; both workers refuse its replays', async () => {
    const key = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const paths: string[] = [];
    for (let i = 0; i < 6; i++) {
      const path = `/api/w${i}`;
      const p = await proof(key, { htu: `${proxy.url}${path}`, token });
      const statuses: number[] = [];
      for (let j = 0; j < 6; j++) {
        // a fresh connection each time: SO_REUSEPORT spreads them over both workers
        const r = await request(`${proxy.url}${path}`, { headers: { authorization: `DPoP ${token}`, dpop: p, connection: 'close' } });
        await r.body.dump();
        statuses.push(r.statusCode);
      }
      expect(statuses, path).toEqual([200, 401, 401, 401, 401, 401]);
      paths.push(path);
    }
    // the access log shows both workers answering (otherwise the test proved nothing about sharing);
    // the workers' lines come through pipes: waited for, a loaded machine delivers them late
    const pids = (): Set<unknown> => new Set(proxy.logs().filter((l) => l.msg === 'request' && paths.includes(String(l.path))).map((l) => l.pid));
    await waitFor('pids().size >= 2', () => pids().size >= 2, 10_000);
    expect(pids().size).toBe(2);
  });
});
