// Requests waiting on a token endpoint (token exchange, egress client credentials) across a
// reload that replaces the exchanger and the client-credentials source (their settings changed):
// README "In-flight requests finish on the snapshot they started with" — each gets the token its
// call brings (200 from the upstream), never a refusal caused by the reload. `serve` inline and `--workers 2`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, startVerifyingUpstream, waitReady, type VerifyingUpstream } from './s2s-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const SLOW_MS = 1_200;
const ENV = { ...ADMIN_ENV, PT_SECRET: 'portcullis-secret' };
let as: AuthServer;
let upstream: VerifyingUpstream;

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
  upstream.trust(as.jwksUri, as.issuer, ['orders', 'billing']);
});
afterAll(async () => {
  as?.setToken('normal');
  await Promise.all([as?.close(), upstream?.close()]);
});

/** `timeoutMs` differs between versions, so a reload replaces the exchanger and the source. */
function config(workers: number, timeoutMs: number): Record<string, unknown> {
  const client = { client_id: 'portcullis', client_secret_env: 'PT_SECRET', timeout_ms: timeoutMs };
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, workers },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], token_exchange: client } },
    upstreams: {
      orders: { targets: [upstream.url] },
      billing: { targets: [upstream.url], client_credentials: { ...client, issuer: 'demo', scopes: ['billing:write'] } },
    },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'exchange' } },
      { name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' },
    ],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

describe.each([1, 2])('outbound token calls across a reload that replaces their client (workers: %i)', (workers) => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy(config(workers, 3 * SLOW_MS), { env: ENV });
    await waitReady(proxy);
  });
  afterAll(async () => {
    as.setToken('normal');
    await proxy?.stop();
  });

  it('token exchange and client credentials waiting on a slow token endpoint get their token (200)', async () => {
    const inbound = await Promise.all(Array.from({ length: 4 }, (_, i) => as.issueJwt({ sub: `u${workers}-${i}` })));
    // keys loaded and the tokens verified before the token endpoint turns slow
    const warm = await call(`${proxy.url}/orders/warm`, { token: inbound[0]! });
    expect(warm.status, warm.text).toBe(200);
    as.setToken('slow', SLOW_MS);
    const asked = as.counters.token;
    const inflight = [
      ...inbound.slice(1).map((t, i) => call(`${proxy.url}/orders/${i}`, { token: t })),
      ...Array.from({ length: 4 }, (_, i) => call(`${proxy.url}/billing/${i}`)),
    ];
    // token requests wait at the (slow) token endpoint when the reload replaces the clients
    await waitFor('as.counters.token > asked', () => as.counters.token > asked, 10_000, { detail: () => 'a token request at the token endpoint' });
    await reloadWith(proxy, config(workers, 3 * SLOW_MS + 1));
    const replies = await Promise.all(inflight);
    expect(replies.map((x) => `${x.status} ${x.status === 200 ? '' : x.text}`)).toEqual(replies.map(() => '200 '));
    as.setToken('normal');
  });
});
