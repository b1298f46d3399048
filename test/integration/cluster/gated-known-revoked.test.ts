// While a member cannot be sure its revocations are complete (bus lost past fail_closed_after_ms),
// a token it ALREADY KNOWS is revoked gets 401 "token revoked", not 503: its client must stop, not
// retry a dead token until the bus returns. Known = a cached verification or introspection answer
// the store revokes, or a revocation of the token's hash. Every other token still gets 503, and
// nothing is verified or introspected while gated. Proxy path (HTTP/1.1, HTTP/2) and forward-auth decision endpoint.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { clusterMemberConfig, subjectPrefix } from '../../helpers/cluster-members.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, jtiOf, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const SECRET = 'portcullis-secret';
const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: SECRET };
const sha256 = (t: string): string => createHash('sha256').update(t).digest('hex');

interface Answer { status: number; challenge: string; retryAfter: string; body: string }

async function answer(r: Awaited<ReturnType<typeof request>>): Promise<Answer> {
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? ''), retryAfter: String(r.headers['retry-after'] ?? ''), body: await r.body.text() };
}
/** GET /api/x through the proxy (HTTP/1.1, uWS listener). */
const call = async (p: ProxyProcess, token: string | null, path = '/api/x'): Promise<Answer> =>
  answer(await request(`${p.url}${path}`, { headers: { connection: 'close', ...(token === null ? {} : { authorization: `Bearer ${token}` }) } }));
/** The nginx-dialect decision endpoint, asked about GET /api/x. */
const decide = async (p: ProxyProcess, token: string): Promise<Answer> =>
  answer(await request(`${p.url}/_portcullis/auth`, { headers: { connection: 'close', 'x-original-uri': '/api/x', 'x-original-method': 'GET', authorization: `Bearer ${token}` } }));
/** GET /api/x on the HTTP/2 listener (h2c). */
const callH2 = async (p: ProxyProcess, token: string): Promise<Answer> => {
  const r = await h2Fetch(`http://127.0.0.1:${http2PortOf(p.logs())}`, { ':method': 'GET', ':path': '/api/x', authorization: `Bearer ${token}` });
  return { status: r.status, challenge: String(r.headers['www-authenticate'] ?? ''), retryAfter: String(r.headers['retry-after'] ?? ''), body: r.body.toString() };
};
const unavailable = (a: Answer): boolean => a.status === 503 && /^\d+$/.test(a.retryAfter) && a.body.includes('temporarily_unavailable');

describe('a gated member and tokens it already knows are revoked', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: NatsServer & { stop(): Promise<void> };
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
    proxy = await startProxy(clusterMemberConfig({
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'nginx' }] } },
      issuers: {
        demo: { issuer: as.issuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', timeout_ms: 2_000 } },
      },
      upstreams: { app: { targets: [echo.url] } },
      routes: [
        { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
        { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
      ],
      cluster: { nats: { servers: [nats.url] }, subject_prefix: subjectPrefix('gkr'), auth: BUS_AUTH, fail_closed_after_ms: 500 },
    }), { env: ENV });
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('bus lost past fail_closed_after_ms: known-revoked tokens 401 revoked (HTTP/1.1, HTTP/2, decision endpoint), every other token 503, nothing verified or introspected', async () => {
    const byJti = await as.issueJwt({ sub: 'a-jti' }); // cached, then revoked by jti: its cached verification says so
    const bySub = await as.issueJwt({ sub: 'a-sub' }); // cached, then its subject cut
    const opaqueBySub = as.issueOpaque({ sub: 'a-opaque' }); // introspected (cached), then its subject cut
    const byHash = await as.issueJwt({ sub: 'a-hash' }); // used, then revoked by token hash (which evicts it): the store's hash entry says so
    const live = await as.issueJwt({ sub: 'b' }); // cached, not revoked
    const opaqueLive = as.issueOpaque({ sub: 'b-opaque' }); // introspected (cached), not revoked
    const unseen = await as.issueJwt({ sub: 'c' }); // never used here
    await waitFor('the proxy to serve the first token', async () => (await call(proxy, live)).status === 200, 30_000);
    for (const t of [byJti, bySub, opaqueBySub, byHash, opaqueLive]) expect((await call(proxy, t)).status).toBe(200);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(byJti) })).status).toBe(201);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'a-sub' })).status).toBe(201);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'a-opaque' })).status).toBe(201);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'token', value: sha256(byHash) })).status).toBe(201);
    // refused while the bus is up (each judged again, so its verification or answer is cached); byHash not used again
    for (const t of [byJti, bySub, opaqueBySub]) expect(revoked(await call(proxy, t))).toBe(true);

    await nats.kill();
    await waitFor('the proxy to fail closed', async () => unavailable(await call(proxy, live)), 10_000);
    const revokedBefore = await metric(proxy, 'portcullis_auth_decisions_total', 'reason="revoked"');
    const verifiedBefore = await metric(proxy, 'portcullis_jwt_verifications_total');
    const introspectionsBefore = as.counters.introspection;

    for (const t of [byJti, bySub, opaqueBySub, byHash]) {
      const a = await call(proxy, t);
      expect(revoked(a), `a known-revoked token while gated: ${a.status} ${a.challenge}`).toBe(true);
      expect(a.retryAfter).toBe('');
      const d = await decide(proxy, t);
      expect(revoked(d), `the decision endpoint on a known-revoked token while gated: ${d.status} ${d.challenge}`).toBe(true);
      const h = await callH2(proxy, t);
      expect(revoked(h), `HTTP/2 on a known-revoked token while gated: ${h.status} ${h.challenge}`).toBe(true);
    }
    for (const t of [live, opaqueLive, unseen]) {
      expect(unavailable(await call(proxy, t))).toBe(true);
      expect(unavailable(await decide(proxy, t))).toBe(true);
      expect(unavailable(await callH2(proxy, t))).toBe(true);
    }
    expect((await call(proxy, null, '/public/x')).status).toBe(200);
    // the denials count as revocations, not as the gate's; nothing was verified or introspected meanwhile
    expect(await metric(proxy, 'portcullis_auth_decisions_total', 'reason="revoked"')).toBe(revokedBefore + 12);
    expect(await metric(proxy, 'portcullis_jwt_verifications_total')).toBe(verifiedBefore);
    expect(as.counters.introspection).toBe(introspectionsBefore);
    expect(await metric(proxy, 'portcullis_auth_decisions_total', 'reason="revocation_bus_lost"')).toBeGreaterThanOrEqual(9);

    // the bus back: the revoked ones stay refused, the others are served again
    await nats.restart();
    await waitFor('the proxy to serve again', async () => (await call(proxy, live)).status === 200, 15_000);
    for (const t of [byJti, bySub, opaqueBySub, byHash]) expect(revoked(await call(proxy, t))).toBe(true);
    for (const t of [opaqueLive, unseen]) expect((await call(proxy, t)).status).toBe(200);
  }, 90_000);
});
