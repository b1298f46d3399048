// Keys unreachable at start: the listener is up but /readyz says 503 and auth routes
// answer 503 temporarily_unavailable with Retry-After (nothing forwarded); once the
// JWKS answers, the same process becomes ready and serves. A JWKS failing later keeps
// the last good keys.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../node/dev/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../node/dev/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { eventually } from '../../helpers/upstreams.js';
import { asIssuer, bearer, call, echoed, expectBearerError, expectUnavailable, notForwarded } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  as.setJwks('down');
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { jwks: { timeout_ms: 500 } }) },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const readyz = (): ReturnType<typeof call> => call(`${proxy.adminUrl}/readyz`);

describe('JWKS unreachable at start', () => {
  it('/readyz 503 and auth routes 503 temporarily_unavailable with Retry-After; then ready without a restart', async () => {
    const pid = proxy.proc.pid;
    const r0 = await readyz();
    expect(r0.status).toBe(503);
    expect(r0.json).toMatchObject({ ready: false, keys_loaded: false, issuers: { demo: { keys: false } } });
    const token = await as.issueJwt();
    expectUnavailable(await notForwarded(() => echo.requests, () => call(`${proxy.url}/orders/1`, { headers: bearer(token) })));
    // routes without auth keep working
    expect((await call(`${proxy.url}/public/x`)).status).toBe(200);
    expect(as.counters.jwks).toBeGreaterThanOrEqual(1); // it did try

    as.setJwks('normal');
    expect(await eventually(async () => (await readyz()).status === 200, 8_000)).toBe(true);
    expect(proxy.proc.pid).toBe(pid);
    expect(proxy.proc.exitCode).toBeNull();
    expect(echoed(await call(`${proxy.url}/orders/1`, { headers: bearer(token) })).headers['x-auth-subject']).toBe('alice');
  }, 12_000);

  it('a JWKS that fails later keeps the last good keys (still ready, valid tokens pass, unknown kids 401)', async () => {
    as.setJwks('down');
    try {
      expectBearerError(await call(`${proxy.url}/orders/1`, { headers: bearer(await as.issueJwt({}, { kid: 'rotated-away' })) }), 401, 'invalid_token');
      expect((await call(`${proxy.url}/orders/1`, { headers: bearer(await as.issueJwt({ sub: 'zoe' })) })).status).toBe(200);
      expect((await readyz()).status).toBe(200);
    } finally {
      as.setJwks('normal');
    }
  });
});
