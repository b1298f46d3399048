// A token endpoint whose tokens are dead on arrival (`expires_in: 0.000001`: broken, or hostile) gets no
// more calls than one that is down: the egress and exchange answers are refused (503, never forwarded
// expired) and the next second's requests are held, instead of one token call per request.
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
/** grant_type of every call the token endpoint got. */
const calls: string[] = [];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  tokenEndpoint = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      calls.push(new URLSearchParams(body).get('grant_type') ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: `blink-${calls.length}`, token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', expires_in: 0.000001 }));
    });
  });
  await new Promise<void>((r) => tokenEndpoint.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(tokenEndpoint.address() as { port: number }).port}/token`;
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_SECRET', token_endpoint: endpoint } } },
    upstreams: {
      orders: { targets: [echo.url] },
      egress: { targets: [echo.url], client_credentials: { issuer: as.issuer, token_endpoint: endpoint, client_id: 'portcullis', client_secret_env: 'PT_SECRET' } },
    },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'exchange' } },
      { name: 'egress', match: { path: '/egress/*' }, upstream: 'egress', auth: 'none' },
    ],
    log: { level: 'info', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_SECRET: 'portcullis-secret' } });
  await waitReady(proxy);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), new Promise((r) => tokenEndpoint?.close(r))]);
});

describe('a token endpoint answering tokens that expire before they arrive', () => {
  it('egress: five requests in a row → 503, nothing forwarded, one token call (before: one per request)', async () => {
    const seen = echo.requests;
    for (let i = 0; i < 5; i++) expectUnavailable(await call(`${proxy.url}/egress/${i}`));
    expect(echo.requests).toBe(seen);
    expect(calls.filter((g) => g === 'client_credentials')).toHaveLength(1);
    expect(proxy.output()).toContain('the token expired before the answer arrived');
  });

  it('exchange: five users in a row → 503, nothing forwarded, one exchange call (before: one per user)', async () => {
    const users = await Promise.all(['ann', 'ben', 'cid', 'dot', 'eve'].map((sub) => as.issueJwt({ sub })));
    const seen = echo.requests;
    for (const token of users) expectUnavailable(await call(`${proxy.url}/orders/1`, { token }));
    expect(echo.requests).toBe(seen);
    expect(calls.filter((g) => g !== 'client_credentials')).toHaveLength(1);
  });
});
