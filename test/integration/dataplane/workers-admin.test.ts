// `serve --workers 2`: the admin endpoints the README lists answer on the primary's admin listener
// too — GET /cache/stats and POST /explain are a worker's (it holds the caches and the verifier),
// so the primary asks one ready worker. Before, both answered 404 "no admin endpoint" there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';

let echo: EchoUpstream;
let as: AuthServer;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  as = await startAuthServer();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    verifier: { pool_size: 1 },
    routes: [
      { name: 'orders', match: { path: '/orders/:id', methods: ['GET'] }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
    ],
  }), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
  await as?.close();
});

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('admin API with --workers', () => {
  it('GET /cache/stats answers 200 with the token cache and verifier counters', async () => {
    const r = await request(`${proxy.adminUrl}/cache/stats`, { headers: auth });
    const body = await r.body.json() as Record<string, unknown>;
    expect(r.statusCode, JSON.stringify(body)).toBe(200);
    expect(Object.keys(body).some((k) => k.startsWith('jwt.')), JSON.stringify(body)).toBe(true);
  });

  it('POST /explain answers 200 with the matched route and the verdict', async () => {
    const r = await request(`${proxy.adminUrl}/explain`, { method: 'POST', headers: auth, body: JSON.stringify({ method: 'GET', path: '/orders/42' }) });
    const body = await r.body.json() as { route?: unknown; allowed?: unknown };
    expect(r.statusCode, JSON.stringify(body)).toBe(200);
    expect(JSON.stringify(body)).toContain('orders');
    expect(body.allowed).toBe(false); // no token
  });

  it('POST /explain with a body that is not JSON is 400, as on a single process', async () => {
    const r = await request(`${proxy.adminUrl}/explain`, { method: 'POST', headers: auth, body: 'nope' });
    await r.body.text();
    expect(r.statusCode).toBe(400);
  });

  it('without the admin token both are 401', async () => {
    const a = await request(`${proxy.adminUrl}/cache/stats`);
    await a.body.text();
    const b = await request(`${proxy.adminUrl}/explain`, { method: 'POST', body: '{}' });
    await b.body.text();
    expect([a.statusCode, b.statusCode]).toEqual([401, 401]);
  });
});
