// A reload of a config with a misspelt key beside an admin section that leaves `listen` to its
// default: refused, the running config kept. Before, the environment check of that half-valid
// document threw — POST /reload answered 500 "internal error" and a SIGHUP ended the process.
import { describe, it, expect, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

const started: ProxyProcess[] = [];
afterAll(async () => { for (const p of started) await p.stop('SIGKILL'); });

describe('a reload of a half-valid config', () => {
  it('POST /reload answers 422 naming the key; SIGHUP logs the refusal and the process keeps serving', async () => {
    const cfg = baseConfig('http://127.0.0.1:9');
    const proxy = await startProxy(cfg, { timeoutMs: 30_000 });
    started.push(proxy);
    // the admin listener is read at start: leaving it out of the new file keeps it running where it is
    writeFileSync(proxy.configPath, stringify({ ...cfg, admin: { token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' }, routes: [{ name: 'all', match: { path: '/*', methds: ['GET'] }, upstream: 'app', auth: 'none' }] }));
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const r = await request(`${proxy.adminUrl}/reload`, { method: 'POST', headers: auth });
    const body = await r.body.text();
    expect(r.statusCode, body).toBe(422);
    expect(body).toContain('routes[0].match.methds');
    proxy.proc.kill('SIGHUP');
    await waitFor('a SIGHUP refusal logged', () => proxy.logs().some((l) => l.msg === 'reload refused: config invalid, keeping the running config' && JSON.stringify(l.errors).includes('routes[0].match.methds')), 10_000, { detail: () => proxy.output() });
    expect(proxy.output()).not.toContain('Cannot read properties');
    const h = await request(`${proxy.adminUrl}/healthz`);
    expect(h.statusCode).toBe(200);
    await h.body.dump();
    const served = await request(`${proxy.url}/x`);
    await served.body.dump();
    expect(served.statusCode).toBe(502); // the running config still routes /x (to an upstream that is down)
  });
});
