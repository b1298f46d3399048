// A verification that never finishes (its verifier thread stuck) is answered 503 at
// `verifier.task_timeout_ms`, nothing forwarded, and the stuck thread is replaced.
// Regression: the request waited on the pool with no deadline (request_ms bounds bodies only).
// The stuck thread is the worker's test-only hook (PORTCULLIS_TEST_ONLY_VERIFY_HANG_JTI).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { asIssuer, bearer, expectUnavailable, metrics, sample, startRecorder, waitReady, type Recorder, type Reply } from './tokens-helpers.js';

const HANG_JTI = 'test-only-spin-forever';
let as: AuthServer;
let upstream: Recorder;
let proxy: ProxyProcess;

/** GET with a client-side bound far above the proxy's deadline: a proxy that never answers fails the test here. */
async function get(url: string, headers: Record<string, string>): Promise<Reply> {
  const r = await request(url, { headers, headersTimeout: 20_000, bodyTimeout: 20_000 })
    .catch((err: Error) => { throw new Error(`no answer from the proxy within 20 s (${err.message})`); });
  const text = await r.body.text();
  let json: Record<string, unknown> | null = null;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = null; }
  return { status: r.statusCode, headers: r.headers, text, json };
}

beforeAll(async () => {
  as = await startAuthServer();
  upstream = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); });
  proxy = await startProxy(baseConfig(upstream.url, {
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    verifier: { pool_size: 1, mode: 'pool', task_timeout_ms: 1_000 },
  }), { env: { ...ADMIN_ENV, PORTCULLIS_TEST_ONLY_VERIFY_HANG_JTI: HANG_JTI } });
  await waitReady(proxy, 15_000);
}, 40_000);

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await as?.close();
});

describe('a verification that never finishes', () => {
  it('is answered 503 temporarily_unavailable with Retry-After, nothing forwarded, and the stuck thread is replaced', async () => {
    const stuck = await as.issueJwt({ sub: 'alice', scope: 'orders:read', jti: HANG_JTI });
    const r = await get(`${proxy.url}/orders/1`, bearer(stuck));
    expectUnavailable(r);
    expect(upstream.hits).toHaveLength(0);

    // the pool has one thread: a good token verifies only if the stuck one was replaced (a few
    // tries: on a loaded machine a token waiting for the new thread to start may time out, 503)
    const good = bearer(await as.issueJwt({ sub: 'alice', scope: 'orders:read' }));
    let r2 = await get(`${proxy.url}/orders/2`, good);
    for (let i = 0; i < 5 && r2.status === 503; i++) r2 = await get(`${proxy.url}/orders/2`, good);
    expect(r2.status, r2.text).toBe(200);
    expect(upstream.hits.map((h) => h.url)).toEqual(['/orders/2']);

    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(text, 'portcullis_verifier_pool_stuck_threads_total')).toBe(1);
    expect(sample(text, 'portcullis_verifier_pool_timeouts_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'portcullis_jwt_verify_failures_total{code="pool_timeout"}')).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
