// Keys unreachable at start: the listener is up but /readyz says 503 and auth routes
// answer 503 temporarily_unavailable with Retry-After (nothing forwarded); once the
// JWKS answers, the same process becomes ready and serves. A JWKS failing later keeps
// the last good keys. An issuer with introspection is ready without its keys: its JWTs
// are introspected until the keys load, then verified locally.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, bearer, call, echoed, expectBearerError, expectUnavailable, introspection, notForwarded, waitReady } from './tokens-helpers.js';
import { startWithJwksDown, type JwksDownStart } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let started: JwksDownStart | undefined;

beforeAll(async () => {
  started = await startWithJwksDown([
    { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
    { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
  ]);
  ({ as, echo, proxy } = started);
});

afterAll(async () => {
  await started?.stop();
});

// the details of /readyz need the admin token (without it: ready or not only)
const readyz = (): ReturnType<typeof call> => call(`${proxy.adminUrl}/readyz`, { headers: bearer(ADMIN_TOKEN) });

/** /readyz's detail for the admin token: per issuer, keys loaded (node/auth/token-check.ts readiness). */
type ReadyDetail = { issuers?: Record<string, { keys?: boolean } | undefined> };

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
    await waitFor('/readyz 200', async () => (await readyz()).status === 200, 8_000);
    expect(proxy.proc.pid).toBe(pid);
    expect(proxy.proc.exitCode).toBeNull();
    expect(echoed(await call(`${proxy.url}/orders/1`, { headers: bearer(token) })).headers['x-auth-subject']).toBe('alice');
  }, 12_000);

  it('a JWKS that fails later keeps the last good keys (still ready, valid tokens pass, unknown kids 503: maybe a fresh rotation)', async () => {
    as.setJwks('down');
    try {
      expectUnavailable(await call(`${proxy.url}/orders/1`, { headers: bearer(await as.issueJwt({}, { kid: 'rotated-away' })) }));
      expect((await call(`${proxy.url}/orders/1`, { headers: bearer(await as.issueJwt({ sub: 'zoe' })) })).status).toBe(200);
      expect((await readyz()).status).toBe(200);
    } finally {
      as.setJwks('normal');
    }
  });
});

describe('JWKS unreachable at start, issuer with introspection', () => {
  let as2: AuthServer;
  let proxy2: ProxyProcess;

  beforeAll(async () => {
    as2 = await startAuthServer();
    as2.setJwks('down');
    proxy2 = await startProxy(baseConfig(echo.url, {
      issuers: { demo: asIssuer(as2, { jwks: { timeout_ms: 500 }, introspection: introspection() }) },
      routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
      verifier: { pool_size: 1 },
    }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  });

  afterAll(async () => {
    await proxy2?.stop();
    await as2?.close();
  });

  it('is ready and serves JWTs through introspection (forged ones refused); once the keys load they are verified locally', async () => {
    await waitReady(proxy2);
    const ready = await call(`${proxy2.adminUrl}/readyz`, { headers: bearer(ADMIN_TOKEN) });
    expect(ready.json).toMatchObject({ ready: true, issuers: { demo: { keys: false, introspection: true } } });

    const calls0 = as2.counters.introspection;
    const token = await as2.issueJwt({ sub: 'carol' });
    expect(echoed(await call(`${proxy2.url}/orders/1`, { headers: bearer(token) })).headers['x-auth-subject']).toBe('carol');
    expect(as2.counters.introspection).toBe(calls0 + 1);
    // the authorization server judges the signature: a forged payload is inactive there
    const [h, , sig] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ iss: as2.issuer, sub: 'mallory', aud: 'portcullis-demo', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url')}.${sig}`;
    expectBearerError(await notForwarded(() => echo.requests, () => call(`${proxy2.url}/orders/1`, { headers: bearer(forged) })), 401, 'invalid_token');

    as2.setJwks('normal');
    await waitFor('(await call(`${proxy2.adminUrl}/readyz`, { headers: bearer(ADMIN_TOKEN) })).json?.issuers?.demo?.keys === true', async () => ((await call(`${proxy2.adminUrl}/readyz`, { headers: bearer(ADMIN_TOKEN) })).json as ReadyDetail | null)?.issuers?.demo?.keys === true, 8_000);
    const calls1 = as2.counters.introspection;
    expect(echoed(await call(`${proxy2.url}/orders/1`, { headers: bearer(await as2.issueJwt({ sub: 'dave' })) })).headers['x-auth-subject']).toBe('dave');
    expect(as2.counters.introspection, 'a JWT is verified locally once the keys are loaded').toBe(calls1);
  }, 15_000);
});
