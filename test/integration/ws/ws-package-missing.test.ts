// An install without the `ws` package (loaded on demand since start-up stopped loading it for every
// config): a config with a WebSocket route fails to start, or to reload, naming it; one without starts.
// Before, it started and answered every WebSocket upgrade 400 "request headers cannot be forwarded".
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, ROOT, baseConfig, reloadWith, runCli, startProxy, writeConfig } from '../../helpers/proxy-process.js';

const ENV = { NODE_OPTIONS: `--require ${join(ROOT, 'test', 'fixtures', 'break-package.cjs')}`, PORTCULLIS_TEST_BROKEN_PACKAGE: 'ws', PORTCULLIS_TEST_ADMIN_TOKEN: ADMIN_TOKEN };
const UPSTREAM = 'http://127.0.0.1:9'; // never called
const plain = baseConfig(UPSTREAM);
const withWs = baseConfig(UPSTREAM, { routes: [{ name: 'ws', match: { path: '/ws/*' }, upstream: 'app', auth: 'none', websocket: true }] });

describe('the ws package missing', () => {
  it('a config with a WebSocket route does not start, and names the package', async () => {
    const r = await runCli(['serve', '--config', writeConfig(withWs)], ENV, 20_000);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("Cannot find module 'ws'");
  }, 30_000);

  it('a config without one starts; a reload adding one is refused naming the package, the running config stays', async () => {
    const p = await startProxy(plain, { env: ENV });
    try {
      await expect(reloadWith(p, withWs)).rejects.toThrow(/answered 422: .*Cannot find module 'ws'/s);
      const r = await request(`${p.url}/x`);
      await r.body.dump();
      expect(r.statusCode).toBe(502); // the running config still routes (to its dead upstream)
    } finally {
      await p.stop();
    }
  }, 40_000);
});
