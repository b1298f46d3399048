// Token exchange never forwards an exchanged token past its lifetime: an answer that arrives
// after its `expires_in` ran out (counted from when the proxy asked) gets the request 503, and a JWT
// is reused only until its own `exp`. A JWT issued for another audience than asked for is refused (502).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureIssuer } from '../../helpers/upstreams.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { bearer, call, expectUnavailable, startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';
import { admin } from '../ws/ws-fixtures.js';

const key = makeKey('RS256', 'k1');
let as: Recorder;
let jwks: Recorder;
let upstream: Server;
let proxy: ProxyProcess;
/** Every exchanged token the upstream received, and whether its lifetime had already run out. */
const received: Array<{ token: string; expired: boolean }> = [];
let issued = 0;
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An (unsigned-looking) JWT: the proxy reads its claims, the upstream here only its exp. */
const jwt = (claims: Record<string, unknown>): string => `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${b64(claims)}.c2ln`;
/** When the exchanged token expires, ms: a JWT's exp, else the time the stand-in wrote into it. */
const expiresAtMs = (token: string): number => {
  const parts = token.split('.');
  return parts.length === 3 ? (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { exp: number }).exp * 1000 : Number(parts[1]);
};

beforeAll(async () => {
  jwks = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([key]))); });
  // the token is issued when the request arrives, valid 1 s (slow) or 300 s; the slow answer takes 1.5 s to come back
  as = await startRecorder((_req, body, res) => {
    const audience = new URLSearchParams(body).get('audience');
    const slow = audience === 'slow';
    const lifetimeS = slow ? 1 : 300;
    // `jwt-*` audiences get a JWT: for someone else (other), for a list holding the audience (list), or one whose exp is 2 s away though expires_in says 300 s (short)
    const nowS = Math.floor(Date.now() / 1000);
    const token = audience?.startsWith('jwt-') === true
      ? jwt({ sub: 'alice', aud: audience === 'jwt-other' ? 'someone-else' : audience === 'jwt-list' ? ['x', audience] : audience, exp: audience === 'jwt-short' ? nowS + 2 : nowS + 300, jti: `j${++issued}` })
      : `exchanged.${Date.now() + lifetimeS * 1000}`;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        access_token: token, token_type: 'Bearer', expires_in: lifetimeS, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      }));
    }, slow ? 1_500 : 0);
  });
  upstream = createServer((req, res) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    received.push({ token, expired: !(Date.now() < expiresAtMs(token)) });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      mine: fixtureIssuer(jwks.url, { token_exchange: { token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_EX_SECRET', auth_method: 'client_secret_post' } }),
    },
    upstreams: {
      slow: { targets: [target], audience: 'slow' }, fast: { targets: [target], audience: 'fast' },
      other: { targets: [target], audience: 'jwt-other' }, list: { targets: [target], audience: 'jwt-list' }, short: { targets: [target], audience: 'jwt-short' },
    },
    routes: [
      { name: 'other', match: { path: '/other/*' }, upstream: 'other', auth: {}, forward: { token: 'exchange' } },
      { name: 'list', match: { path: '/list/*' }, upstream: 'list', auth: {}, forward: { token: 'exchange' } },
      { name: 'short', match: { path: '/short/*' }, upstream: 'short', auth: {}, forward: { token: 'exchange' } },
      { name: 'slow', match: { path: '/slow/*' }, upstream: 'slow', auth: {}, forward: { token: 'exchange' } },
      { name: 'fast', match: { path: '/fast/*' }, upstream: 'fast', auth: {}, forward: { token: 'exchange' } },
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_EX_SECRET: 'ex-secret-3d9f1a7c55e04b28' } });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), jwks?.close()]);
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('exchanged tokens are never sent expired', () => {
  it('control: an exchange answered in time is forwarded, within its lifetime', async () => {
    const r = await call(`${proxy.url}/fast/1`, { headers: bearer(makeToken(key)) });
    expect(r.status, r.text).toBe(200);
    expect(received.map((x) => x.expired)).toEqual([false]);
  });

  it('an exchanged token whose lifetime ran out before the answer arrived → 503, the upstream never sees it', async () => {
    received.length = 0;
    expectUnavailable(await call(`${proxy.url}/slow/1`, { headers: bearer(makeToken(key)) }));
    expect(received, `forwarded past the token's lifetime: ${JSON.stringify(received)}`).toEqual([]);
    // a token dead on arrival is a failed call: the endpoint is held 1 s (README, token endpoints) — the cases below
    // begin once an exchange goes through again
    await waitFor('the token endpoint no longer held', async () => (await call(`${proxy.url}/fast/2`, { headers: bearer(makeToken(key)) })).status === 200);
  });
});

describe('an exchanged JWT is checked before it is forwarded', () => {
  it('a JWT whose aud does not include the audience asked for → 502 EXCHANGE_TOKEN_UNUSABLE, nothing forwarded, the token never logged', async () => {
    received.length = 0;
    const r = await call(`${proxy.url}/other/1`, { headers: bearer(makeToken(key)) });
    expect(r.status, r.text).toBe(502);
    expect(JSON.parse(r.text)).toMatchObject({ code: 'PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE' });
    expect(received).toEqual([]);
    await waitFor('the refusal logged', () => proxy.logs().some((l) => l.reason === 'exchange_audience_mismatch'));
    const logged = JSON.stringify(proxy.logs());
    expect(logged).not.toContain('c2ln'); // the exchanged token's signature part
    expect(logged).not.toContain('someone-else'); // nor its claims
  });

  it('control: a JWT whose aud list holds the audience is forwarded', async () => {
    received.length = 0;
    const r = await call(`${proxy.url}/list/1`, { headers: bearer(makeToken(key)) });
    expect(r.status, r.text).toBe(200);
    expect(received).toHaveLength(1);
  });

  it('a JWT is reused only until its own exp, however long expires_in says', async () => {
    received.length = 0;
    const inbound = makeToken(key);
    expect((await call(`${proxy.url}/short/1`, { headers: bearer(inbound) })).status).toBe(200);
    const first = received[0]!.token;
    const expMs = expiresAtMs(first);
    await waitFor('the exchanged JWT to expire', () => Date.now() >= expMs, 5_000);
    expect((await call(`${proxy.url}/short/2`, { headers: bearer(inbound) })).status).toBe(200);
    expect(received[1]!.token).not.toBe(first);
    expect(received.filter((x) => x.expired), 'an expired exchanged token was forwarded').toEqual([]);
  });
});

it('revoking an exchanged token by its own jti: the proxy stops attaching it, the next request exchanges again', async () => {
  received.length = 0;
  const inbound = makeToken(key);
  expect((await call(`${proxy.url}/list/1`, { headers: bearer(inbound) })).status).toBe(200);
  expect((await call(`${proxy.url}/list/2`, { headers: bearer(inbound) })).status).toBe(200);
  const first = received[0]!.token;
  expect(received[1]!.token).toBe(first); // reused from the cache
  const jti = (JSON.parse(Buffer.from(first.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jti })).status).toBe(201);
  expect((await call(`${proxy.url}/list/3`, { headers: bearer(inbound) })).status).toBe(200);
  expect(received[2]!.token).not.toBe(first);
});
