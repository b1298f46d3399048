// `explain` (CLI and admin POST /explain) against the live proxy on the same requests: the status
// explain predicts is the status the proxy answers. Before, a `?_method=` override the proxy refuses
// (400, it would run another route's handler) was explained as ALLOWED on the request line's route.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, runCli, writeConfig, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let file: string;
let proxy: ProxyProcess;
let reader: string; // scope orders:read, tenant acme
let writer: string; // scope orders:write

const ROUTES = [
  { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
  { name: 'orders-read', match: { path: '/orders/*', methods: ['GET'] }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
  { name: 'orders-write', match: { path: '/orders/*', methods: ['POST', 'DELETE'] }, upstream: 'app', auth: { scopes: { all: ['orders:write'] } } },
  { name: 'tenant', match: { path: '/tenants/:tenant/*' }, upstream: 'app', auth: { claims: [{ claim: 'tenant', equals_param: 'tenant' }] } },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/explain-live' }), startEchoUpstream()]);
  file = writeConfig(baseConfig(echo.url, { issuers: { demo: issuerFor(as) }, routes: ROUTES, verifier: { pool_size: 1 } }));
  proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
  [reader, writer] = await Promise.all([
    as.issueJwt({ sub: 'alice', scope: 'orders:read', tenant: 'acme' }),
    as.issueJwt({ sub: 'bob', scope: 'orders:write', tenant: 'acme' }),
  ]);
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('explain agrees with the live proxy', () => {
  const cases = (): Array<[string, string, string | undefined]> => [
    // method overrides: the proxy refuses one that selects another route (400), keeps one that selects the same
    ['GET', '/orders/42?_method=DELETE', reader],
    ['POST', '/orders/42?_method=GET', writer],
    ['POST', '/orders/42?%5Fmethod=GET', writer],
    ['GET', '/public/x?_method=DELETE', undefined],
    ['POST', '/orders/42?_method=DELETE', writer],
    ['GET', '/orders/42?_method=get', reader],
    ['GET', '/orders/42?_method=1', reader],
    // and the ordinary verdicts
    ['GET', '/orders/42', reader],
    ['HEAD', '/orders/42', reader],
    ['DELETE', '/orders/42', reader],
    ['GET', '/orders/42', undefined],
    ['GET', '/tenants/acme/x', reader],
    ['GET', '/tenants/other/x', reader],
    ['GET', '/public/x', undefined],
    ['PUT', '/orders/42', writer],
  ];

  it('admin POST /explain predicts the status the proxy answers, request by request', async () => {
    for (const [method, path, token] of cases()) {
      const live = await call(`${proxy.url}${path}`, { method, ...(token !== undefined ? { token } : {}) });
      const ex = await admin(proxy, 'POST', '/explain', { method, path, ...(token !== undefined ? { token } : {}) });
      expect(ex.status).toBe(200);
      expect(ex.json?.status, `${method} ${path}: live ${live.status}, explain ${JSON.stringify(ex.json)}`).toBe(live.status);
      expect(ex.json?.allowed).toBe(live.status === 200);
    }
  });

  it('the CLI says DENIED (400) and exits 1 for an override the proxy refuses', async () => {
    const r = await runCli(['explain', '--config', file, 'GET', '/orders/42?_method=DELETE', '--token', reader], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/verdict\s+DENIED \(400\)/);
    expect(r.stdout).toMatch(/_method/);
    const same = await runCli(['explain', '--config', file, 'POST', '/orders/42?_method=DELETE', '--token', writer], ADMIN_ENV);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(same.stdout).toMatch(/verdict\s+ALLOWED \(200\)/);
  });
});
