// With `cluster.policy.source: cluster`, a file reload changes the instance's local part
// (server.limits here) and keeps the cluster's policy; a policy version pushed afterwards is
// applied with that reloaded local part — one process and `--workers 2` alike. Before, every
// pushed version was combined with the local part the process started with: the push silently
// undid the reload (a body limit tightened by a reload was lifted again by the next push).
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyCli, policyDoc, readyz, statusOf, writePolicy } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

/** POST a 100-byte body to `path`: the status. */
async function post100(p: ProxyProcess, path: string): Promise<number> {
  const r = await request(`${p.url}${path}`, { method: 'POST', body: 'x'.repeat(100), headers: { connection: 'close' } });
  await r.body.dump();
  return r.statusCode;
}

describe('a file reload of the local part, then a policy push', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let prefix = '';
  let cliConfig = '';
  let single: ProxyProcess;
  let workers: ProxyProcess;

  const push = async (doc: unknown): Promise<void> => {
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(doc)]);
    expect(r.code, r.stderr).toBe(0);
  };
  const local = (limits: Record<string, unknown>): Record<string, unknown> => {
    const c = localConfig([nats.url], prefix);
    return { ...c, server: { ...(c.server as Record<string, unknown>), limits } };
  };

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    prefix = `plr${Math.random().toString(36).slice(2, 8)}`;
    cliConfig = writeConfig(localConfig([nats.url], prefix));
    await push(policyDoc(as.issuer, echo.url));
    [single, workers] = await Promise.all([
      startProxy(local({}), { env: ENV, timeoutMs: 30_000 }),
      startProxy(local({}), { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 }),
    ]);
    await Promise.all([single, workers].map((p) => waitFor(`${p.url} ready`, async () => (await readyz(p.adminUrl)).status === 200, 40_000)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([single, workers].map((p) => p?.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('the pushed version keeps the reloaded local part', async () => {
    for (const p of [single, workers]) {
      expect(await post100(p, '/open/before')).toBe(200);
      writeFileSync(p.configPath, stringify(local({ max_body_bytes: 16 })));
      const r = await admin(p, 'POST', '/reload');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      for (let i = 0; i < 4; i++) expect(await post100(p, `/open/reloaded-${i}`)).toBe(413);
    }
    // version 2: one more public route
    await push(policyDoc(as.issuer, echo.url, { routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
      { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
      { name: 'open2', match: { path: '/open2/*' }, upstream: 'app', auth: 'none' },
    ] }));
    for (const p of [single, workers]) {
      await waitFor(`${p.url} on version 2`, async () => {
        const s = await Promise.all([0, 1, 2, 3].map((i) => statusOf(p, `/open2/${i}`)));
        return s.every((x) => x === 200);
      }, 20_000);
      // every worker: fresh connections spread over them
      for (let i = 0; i < 6; i++) expect(await post100(p, `/open/after-${i}`)).toBe(413);
    }
  }, 90_000);
});
