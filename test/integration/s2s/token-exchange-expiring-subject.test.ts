// Token exchange against a server that bounds an exchanged token's life by the subject token's (expires_in =
// what the inbound token has left, to the millisecond): a caller whose own token is at its end — past exp,
// within clock_skew_s, so the proxy still takes it — gets an answer that is dead on arrival. That is its token's
// doing, not the endpoint's: it must not hold every other user's exchange (before: 503 for everyone for 1 s,
// as often as such a caller came back).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { expectUnavailable } from '../auth/tokens-helpers.js';
import { call, waitReady } from './s2s-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let tokenEndpoint: Server;
let proxy: ProxyProcess;
let calls = 0;

/** The payload's exp of a compact JWT. */
const expOf = (jwt: string): number => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  tokenEndpoint = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      calls++;
      // what the subject token has left, to the millisecond (at least 1 ms: 0 would read as no expires_in at all)
      const left = expOf(new URLSearchParams(body).get('subject_token') ?? '') - Date.now() / 1000;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: `exchanged-${calls}`, token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: Math.max(0.001, Math.min(300, left)) }));
    });
  });
  await new Promise<void>((r) => tokenEndpoint.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(tokenEndpoint.address() as { port: number }).port}/token`;
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_SECRET', token_endpoint: endpoint } } },
    upstreams: { orders: { targets: [echo.url] } },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'exchange' } }],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_SECRET: 'portcullis-secret' } });
  await waitReady(proxy);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), new Promise((r) => tokenEndpoint?.close(r))]);
});

describe('token exchange for a subject token at its end', () => {
  it('refuses that caller (503, nothing forwarded) and still exchanges the next user\'s token at once', async () => {
    const ending = await as.issueJwt({ sub: 'ann' }, { ttlSeconds: -5 }); // past exp, within the default clock_skew_s (60 s)
    const seen = echo.requests;
    expectUnavailable(await call(`${proxy.url}/orders/1`, { token: ending }));
    expect(echo.requests, 'nothing forwarded with a dead exchanged token').toBe(seen);
    const ben = await as.issueJwt({ sub: 'ben' });
    const r = await call(`${proxy.url}/orders/1`, { token: ben });
    expect(r.status, 'another user is not held back by ann\'s token').toBe(200);
    expect(calls).toBe(2);
  });
});
