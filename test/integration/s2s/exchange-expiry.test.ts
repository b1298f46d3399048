// Token exchange never forwards an exchanged token past its lifetime: an answer that arrives
// after its `expires_in` ran out (counted from when the proxy asked) gets the request 503.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureIssuer } from '../../helpers/upstreams.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { bearer, call, expectUnavailable, startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';

const key = makeKey('RS256', 'k1');
let as: Recorder;
let jwks: Recorder;
let upstream: Server;
let proxy: ProxyProcess;
/** Every exchanged token the upstream received, and whether its lifetime had already run out. */
const received: Array<{ token: string; expired: boolean }> = [];

beforeAll(async () => {
  jwks = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([key]))); });
  // the token is issued when the request arrives, valid 1 s (slow) or 300 s; the slow answer takes 1.5 s to come back
  as = await startRecorder((_req, body, res) => {
    const slow = new URLSearchParams(body).get('audience') === 'slow';
    const lifetimeS = slow ? 1 : 300;
    const token = `exchanged.${Date.now() + lifetimeS * 1000}`;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        access_token: token, token_type: 'Bearer', expires_in: lifetimeS, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      }));
    }, slow ? 1_500 : 0);
  });
  upstream = createServer((req, res) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    received.push({ token, expired: !(Date.now() < Number(token.split('.')[1])) });
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
    upstreams: { slow: { targets: [target], audience: 'slow' }, fast: { targets: [target], audience: 'fast' } },
    routes: [
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
  });
});
