// Token exchange's failure hold (1 s without calls after the endpoint failed) is for an endpoint that is
// down, not for one that answers: a refusal of one audience with an OAuth error in a 403 (Keycloak's
// "Client not allowed to exchange") must not hold back the exchanges of the issuer's other upstreams.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, stats, waitReady } from './s2s-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let tokenEndpoint: Server;
let proxy: ProxyProcess;
const calls: string[] = [];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  // the token endpoint: `billing` is an audience this client may not exchange for (403 access_denied), `orders` one it may
  tokenEndpoint = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const audience = new URLSearchParams(body).get('audience') ?? '';
      calls.push(audience);
      res.setHeader('content-type', 'application/json');
      if (audience === 'billing') { res.statusCode = 403; res.end(JSON.stringify({ error: 'access_denied', error_description: 'Client not allowed to exchange' })); return; }
      res.end(JSON.stringify({ access_token: `exchanged-${audience}-${calls.length}`, token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: 60 }));
    });
  });
  await new Promise<void>((r) => tokenEndpoint.listen(0, '127.0.0.1', r));
  const port = (tokenEndpoint.address() as { port: number }).port;
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_EXCHANGE_SECRET', token_endpoint: `http://127.0.0.1:${port}/token` } } },
    upstreams: { orders: { targets: [echo.url] }, billing: { targets: [echo.url] } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'exchange' } },
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: {}, forward: { token: 'exchange' } },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_EXCHANGE_SECRET: 'portcullis-secret' } });
  await waitReady(proxy);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), new Promise((r) => tokenEndpoint?.close(r))]);
});

describe('token exchange refused for one audience', () => {
  it('holds back no other upstream\'s exchange: each caller of orders right after a billing refusal is exchanged and served', async () => {
    const users = await Promise.all(['ann', 'ben', 'cid', 'dot'].map((sub) => as.issueJwt({ sub })));
    const held0 = (await stats(proxy))['token_exchange.failure_holds'] ?? 0;
    for (const [i, token] of users.entries()) {
      const refused = await call(`${proxy.url}/billing/x`, { token });
      // the client is told it may not have this upstream (403), not to retry an outage (before: 503 Retry-After)
      expect(refused.status, refused.text).toBe(403);
      // a new caller (its own inbound token: nothing cached) of another upstream, milliseconds later (before: 503 held)
      const served = await call(`${proxy.url}/orders/${i}`, { token });
      expect(served.status, served.text).toBe(200);
    }
    expect(calls.filter((a) => a === 'billing')).toHaveLength(4);
    expect(calls.filter((a) => a === 'orders')).toHaveLength(4);
    expect((await stats(proxy))['token_exchange.failure_holds'] ?? 0).toBe(held0);
  });
});
