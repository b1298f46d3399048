// Client-credentials egress never sends a token past its lifetime: a token endpoint whose
// answer arrives after the token's `expires_in` has run out (a slow network or AS) must not
// have that token forwarded — the request gets 503, the upstream sees no expired token. A JWT is
// judged by its own `exp` too: one already expired is never sent, one is reused only until its exp.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, expectUnavailable, startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';
import { admin } from '../ws/ws-fixtures.js';

const CC_SECRET = 'cc-secret-0b7e3c5a91d24f68';
let as: Recorder;
let upstream: Server;
let upstreamUrl: string;
let proxy: ProxyProcess;
/** Every egress token the upstream received, and whether its lifetime had already run out. */
const received: Array<{ token: string; expired: boolean }> = [];
let issued = 0;
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
/** When the egress token expires, ms: a JWT's exp, else the time the stand-in wrote into it. */
const expiresAtMs = (token: string): number => {
  const parts = token.split('.');
  return parts.length === 3 ? (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { exp: number }).exp * 1000 : Number(parts[1]);
};

beforeAll(async () => {
  // the token is issued when the request arrives, valid 1 s; the answer takes 1.5 s to come back
  as = await startRecorder((_req, body, res) => {
    const audience = new URLSearchParams(body).get('audience');
    const lifetimeS = audience === 'slow' ? 1 : 300;
    // `jwt-expired`: a JWT whose exp has passed and no expires_in; `jwt-short`: exp 2 s away though expires_in says 300 s
    const nowS = Math.floor(Date.now() / 1000);
    const jwt = audience?.startsWith('jwt-') === true;
    const token = jwt
      ? `${b64({ alg: 'RS256' })}.${b64({ sub: 'portcullis', aud: audience, exp: audience === 'jwt-short' ? nowS + 2 : audience === 'jwt-long' ? nowS + 300 : nowS - 10, jti: `j${++issued}` })}.c2ln`
      : `egress.${Date.now() + lifetimeS * 1000}`;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', ...(audience === 'jwt-expired' ? {} : { expires_in: lifetimeS }) }));
    }, audience === 'slow' ? 1_500 : 0);
  });
  upstream = createServer((req, res) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    const until = expiresAtMs(token);
    received.push({ token, expired: !(Date.now() < until) });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const cc = { issuer: 'https://as.test', token_endpoint: `${as.url}/token`, client_id: 'portcullis', client_secret_env: 'PT_CC_SECRET' };
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: {
      slow: { targets: [upstreamUrl], audience: 'slow', client_credentials: cc },
      fast: { targets: [upstreamUrl], audience: 'fast', client_credentials: cc },
      expired: { targets: [upstreamUrl], audience: 'jwt-expired', client_credentials: cc },
      short: { targets: [upstreamUrl], audience: 'jwt-short', client_credentials: cc },
      long: { targets: [upstreamUrl], audience: 'jwt-long', client_credentials: cc },
    },
    routes: [
      { name: 'expired', match: { path: '/expired/*' }, upstream: 'expired', auth: 'none' },
      { name: 'short', match: { path: '/short/*' }, upstream: 'short', auth: 'none' },
      { name: 'long', match: { path: '/long/*' }, upstream: 'long', auth: 'none' },
      { name: 'slow', match: { path: '/slow/*' }, upstream: 'slow', auth: 'none' },
      { name: 'fast', match: { path: '/fast/*' }, upstream: 'fast', auth: 'none' },
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_CC_SECRET: CC_SECRET } });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await as?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('client-credentials egress tokens are never sent expired', () => {
  it('control: a token answered in time is forwarded, within its lifetime', async () => {
    const r = await call(`${proxy.url}/fast/1`);
    expect(r.status, r.text).toBe(200);
    expect(received.length).toBe(1);
    expect(received[0]!.expired).toBe(false);
  });

  it('a token whose lifetime ran out before the answer arrived → 503, the upstream never sees it', async () => {
    received.length = 0;
    const answers = await Promise.all([call(`${proxy.url}/slow/1`), call(`${proxy.url}/slow/2`)]);
    for (const r of answers) expectUnavailable(r);
    expect(received, `forwarded past the token's lifetime: ${JSON.stringify(received)}`).toEqual([]);
  });
});

describe('a JWT egress token is judged by its own exp', () => {
  it('a JWT already expired (no expires_in) → 503, the upstream never sees it', async () => {
    received.length = 0;
    expectUnavailable(await call(`${proxy.url}/expired/1`));
    expect(received, `forwarded an expired JWT: ${JSON.stringify(received)}`).toEqual([]);
  });

  it('a JWT is reused only until its own exp, however long expires_in says', async () => {
    received.length = 0;
    expect((await call(`${proxy.url}/short/1`)).status).toBe(200);
    const first = received[0]!.token;
    const expMs = expiresAtMs(first);
    await waitFor('the egress JWT to expire', () => Date.now() >= expMs, 5_000);
    expect((await call(`${proxy.url}/short/2`)).status).toBe(200);
    expect(received[1]!.token).not.toBe(first);
    expect(received.filter((x) => x.expired), 'an expired egress token was forwarded').toEqual([]);
  });
});

it('revoking the egress token by its own jti: the proxy stops attaching it, the next request fetches another', async () => {
  received.length = 0;
  expect((await call(`${proxy.url}/long/1`)).status).toBe(200);
  expect((await call(`${proxy.url}/long/2`)).status).toBe(200);
  const first = received[0]!.token;
  expect(received[1]!.token).toBe(first); // reused
  const jti = (JSON.parse(Buffer.from(first.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jti })).status).toBe(201);
  expect((await call(`${proxy.url}/long/3`)).status).toBe(200);
  expect(received[2]!.token).not.toBe(first);
});
