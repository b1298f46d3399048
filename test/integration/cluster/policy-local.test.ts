// POST /policy without NATS: `serve --workers 2` applies the posted policy to both workers
// through the primary, all or nothing, as a reload; an invalid one is refused with every
// path and nothing changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { readyz, statusOf } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('POST /policy without NATS (serve --workers 2)', () => {
  let echo: EchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    echo = await startEchoUpstream();
    proxy = await startProxy(baseConfig(echo.url), { args: ['--workers', '2'], timeoutMs: 40_000 });
    await waitFor('ready', async () => (await readyz(proxy.adminUrl)).status === 200, 20_000);
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
  });

  const post = async (body: unknown): Promise<{ status: number; body: any }> => {
    const r = await request(`${proxy.adminUrl}/policy`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return { status: r.statusCode, body: await r.body.json() };
  };

  it('an invalid policy is refused with every path; nothing changes', async () => {
    const before = (await request(`${proxy.adminUrl}/policy`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.body.json())) as { digest: string };
    const r = await post({ upstreams: { app: { targets: [echo.url] } }, routes: [{ name: 'x', match: { path: '/x' }, upstream: 'nope', auth: 'none' }], server: {} });
    expect(r.status).toBe(422);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(['server']);
    const r2 = await post({ upstreams: { app: { targets: [echo.url] } }, routes: [{ name: 'x', match: { path: '/x' }, upstream: 'nope', auth: 'none' }] });
    expect(r2.status).toBe(422);
    expect(r2.body.errors.map((e: { path: string }) => e.path)).toContain('routes[0].upstream');
    const after = (await request(`${proxy.adminUrl}/policy`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.body.json())) as { digest: string };
    expect(after.digest).toBe(before.digest);
    expect(await statusOf(proxy, '/anything')).toBe(200);
  });

  it('a valid policy reaches every worker: the open route is gone on every request', async () => {
    const r = await post({ upstreams: { app: { targets: [echo.url] } }, routes: [{ name: 'only', match: { path: '/only/*' }, upstream: 'app', auth: 'none' }] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ applied: true, version: 2 });
    const codes = await Promise.all(Array.from({ length: 40 }, () => statusOf(proxy, '/anything')));
    expect(new Set(codes)).toEqual(new Set([404]));
    expect(await statusOf(proxy, '/only/x')).toBe(200);
  });
});
