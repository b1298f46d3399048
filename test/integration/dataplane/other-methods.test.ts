// Methods a protected route does not list. Before, `/api/admin/*` for GET, POST with auth and an open
// `/api/*` after it let DELETE /api/admin/x reach the upstream with no token, and check-config said
// only "ok". Now check-config and the start log name the pair, and `other_methods: refuse` answers 405
// with Allow on the main listener, the HTTP/2 listener and a decision endpoint, nothing forwarded. A browser's
// CORS preflight (no token) passes through an OPTIONS route of the same path with auth: none.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { startFixtureJwks, fixtureIssuer, startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';
import { send } from '../decision/decision-fixtures.js';

let jwks: ScriptedUpstream;
let up: ScriptedUpstream;
let proxy: ProxyProcess;
let configFile: string;

const WARNED = /^routes\[1\] \("reports-admin"\) lists methods \[GET\]; other methods on its paths fall to routes\[3\] \("reports", auth: none\)/;

beforeAll(async () => {
  jwks = await startFixtureJwks();
  up = await startScriptedUpstream((_req, res) => { res.end('upstream'); });
  const admin = { scopes: { all: ['admin'] } };
  configFile = writeConfig(baseConfig(up.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { endpoints: [{ path: '/_auth', dialect: 'auto' }] } },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'admin', match: { path: '/api/admin/*', methods: ['GET', 'POST'] }, upstream: 'app', auth: admin, other_methods: 'refuse' },
      { name: 'reports-admin', match: { path: '/reports/admin/*', methods: ['GET'] }, upstream: 'app', auth: admin },
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: 'none' },
      { name: 'reports', match: { path: '/reports/*' }, upstream: 'app', auth: 'none' },
      // CORS: a browser's preflight never carries the token (Fetch: no credentials on a preflight)
      { name: 'billing', match: { path: '/billing/*', methods: ['GET'] }, upstream: 'app', auth: admin, other_methods: 'refuse' },
      { name: 'billing-preflight', match: { path: '/billing/*', methods: ['OPTIONS'] }, upstream: 'app', auth: 'none' },
      { name: 'ledger', match: { path: '/ledger/*', methods: ['GET', 'OPTIONS'] }, upstream: 'app', auth: admin, other_methods: 'refuse' },
    ],
  }));
  proxy = await startProxy(null, { env: ADMIN_ENV, configPath: configFile });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await up?.close();
  await jwks?.close();
});

function expectRefused(status: number, allow: unknown, text: string): void {
  expect(status, text).toBe(405);
  expect(allow).toBe('GET, HEAD, POST');
  expect(JSON.parse(text)).toMatchObject({ error: 'method_not_allowed', code: 'PORTCULLIS_ERR_ROUTE_METHOD_NOT_ALLOWED' });
}

describe('methods a protected route does not list', () => {
  it('check-config names the route whose other methods fall to an open one, and only that one; the start log says it once', async () => {
    const r = await runCli(['check-config', '--no-env', configFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: /);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: routes\[1\]\.match\.methods: /);
    expect(warnings[0]!.slice('warning: routes[1].match.methods: '.length)).toMatch(WARNED);
    expect(warnings[0]).toContain('POST, PUT, PATCH, DELETE, OPTIONS, any other requests on /reports/admin/*');
    await waitFor('the start warning logged', () => proxy.logs().some((l) => l.level === 40 && WARNED.test(String(l.msg))));
    expect(proxy.logs().filter((l) => WARNED.test(String(l.msg)))).toHaveLength(1);
  });

  it('main listener: other_methods: refuse → 405 with Allow, nothing forwarded; the listed methods still need a token', async () => {
    const before = up.seen.length;
    const r = await rawRequest(proxy.port, requestText('DELETE', '/api/admin/x'));
    expectRefused(r.status, r.headers['allow'], r.body.toString());
    expect(up.seen.length).toBe(before);
    expect((await rawRequest(proxy.port, requestText('GET', '/api/admin/x'))).status).toBe(401);
    // the warned route keeps today's default: its DELETE reaches the open route (what the warning says)
    expect((await rawRequest(proxy.port, requestText('DELETE', '/reports/admin/x'))).status).toBe(200);
  });

  it('CORS preflight on a refusing route: an OPTIONS route of the same path with auth: none passes it; OPTIONS listed on the protected route does not', async () => {
    const preflight: Array<[string, string]> = [['Origin', 'https://app.example'], ['Access-Control-Request-Method', 'GET'], ['Access-Control-Request-Headers', 'authorization']];
    const before = up.seen.length;
    const ok = await rawRequest(proxy.port, requestText('OPTIONS', '/billing/x', preflight));
    expect(ok.status).toBe(200);
    expect(up.seen.length).toBe(before + 1);
    const refused = await rawRequest(proxy.port, requestText('DELETE', '/billing/x'));
    expect(refused.status).toBe(405);
    expect(refused.headers['allow']).toBe('GET, HEAD, OPTIONS');
    // listing OPTIONS on the protected route asks the preflight for a token it never has: the browser sees 401
    expect((await rawRequest(proxy.port, requestText('OPTIONS', '/ledger/x', preflight))).status).toBe(401);
  });

  it('HTTP/2 listener: the same 405 with Allow', async () => {
    const before = up.seen.length;
    const s = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      const r = await h2Request(s, { ':method': 'PUT', ':path': '/api/admin/x' }, 'x');
      expectRefused(r.status, r.headers['allow'], r.text);
    } finally { s.close(); }
    expect(up.seen.length).toBe(before);
  });

  it('explain names the refusing route and the 405', async () => {
    const r = await runCli(['explain', '--config', configFile, 'DELETE', '/api/admin/x'], ADMIN_ENV);
    expect(r.stdout, r.stderr).toContain('route admin has path /api/admin/x and other_methods: refuse, and no route as specific lists DELETE: 405 (Allow: GET, HEAD, POST), nothing forwarded');
  });

  it('decision endpoint: the edge gets the 405 with Allow for the original request', async () => {
    const r = await send(`${proxy.url}/_auth`, { 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/api/admin/x', 'x-forwarded-host': 'app.example' });
    expectRefused(r.status, r.headers['allow'], r.text);
    expect(r.headers['x-portcullis-error']).toBe('PORTCULLIS_ERR_ROUTE_METHOD_NOT_ALLOWED');
  });
});
