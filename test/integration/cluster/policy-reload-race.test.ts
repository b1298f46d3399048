// With `--workers 2` and cluster policy, a file reload queued while a pushed version is being
// applied to the workers runs right after it, and must combine the file's local part with that
// version. Before, it took the policy from the watcher, which names the version only a moment
// later: the reload put the previous version's policy back on every worker — here `/api/*`
// open again — while GET /policy, `policy status` and X-Portcullis-Policy said version 2.
// The other way round, a version queued behind a reload in flight was combined with the local part
// it was checked with (the one before the reload): it lifted a body limit the reload had set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyDoc, pushPolicies } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

/** GET `path` on a fresh connection (they spread over the workers): the status. */
async function fresh(p: ProxyProcess, path: string): Promise<number> {
  const r = await request(`${p.url}${path}`, { headers: { connection: 'close' } });
  await r.body.dump();
  return r.statusCode;
}

/** POST a 100-byte body to `path` on a fresh connection: the status. */
async function post100(p: ProxyProcess, path: string): Promise<number> {
  const r = await request(`${p.url}${path}`, { method: 'POST', body: 'x'.repeat(100), headers: { connection: 'close' } });
  await r.body.dump();
  return r.statusCode;
}

describe('a file reload queued behind a policy version (--workers 2)', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let cliConfig = '';
  let prefix = '';
  let p: ProxyProcess;
  const local = (limits: Record<string, unknown> = {}): Record<string, unknown> => {
    const c = localConfig([nats.url], prefix);
    return { ...c, server: { ...(c.server as Record<string, unknown>), limits } };
  };

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    prefix = `prr${Math.random().toString(36).slice(2, 8)}`;
    cliConfig = writeConfig(localConfig([nats.url], prefix));
    // version 1: /api/* needs no token
    await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url)]);
    p = await startProxy(local(), { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    await workersReady(p, 2, 40_000);
  }, 90_000);

  afterAll(async () => {
    await p?.stop();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('keeps the version it was queued behind', async () => {
    expect(await fresh(p, '/api/v1-open')).toBe(200);
    // one worker paused: the primary's apply of version 2 waits for its answer (≤ 5 s)
    const [paused] = workerPids(p.proc.pid!);
    expect(paused).toBeDefined();
    process.kill(paused!, 'SIGSTOP');
    let reload: Promise<{ status: number; body: any }> | null = null;
    try {
      // version 2: /api/* needs a token
      await pushPolicies(cliConfig, [policyDoc(as.issuer, echo.url)]);
      // the primary has checked version 2 and handed it to the workers (latest_seen is set just before)
      await waitFor('version 2 seen', async () => (await admin(p, 'GET', '/policy')).body.latest_seen === 2, 10_000);
      reload = admin(p, 'POST', '/reload');
      // the reload request reaches the idle primary and is queued behind the version (a precondition, not a speed check)
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      process.kill(paused!, 'SIGCONT');
    }
    const r = await reload!;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor('version 2 active', async () => (await admin(p, 'GET', '/policy')).body.version === 2, 10_000);
    // every worker (fresh connections spread over them) judges by version 2
    const s = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => fresh(p, `/api/after-${i}`)));
    expect(s).toEqual([401, 401, 401, 401, 401, 401, 401, 401]);
  }, 60_000);

  it('a version queued behind a reload keeps the reloaded local part', async () => {
    expect(await post100(p, '/open/before')).toBe(200);
    const [paused] = workerPids(p.proc.pid!);
    process.kill(paused!, 'SIGSTOP');
    let reload: Promise<{ status: number; body: any }> | null = null;
    try {
      // the reload (a body limit of 16 bytes) waits for the paused worker's answer
      writeFileSync(p.configPath, stringify(local({ max_body_bytes: 16 })));
      reload = admin(p, 'POST', '/reload');
      await new Promise((r) => setTimeout(r, 300)); // it reaches the idle primary (a precondition, not a speed check)
      // version 3, checked and queued behind the reload: one more public route
      await pushPolicies(cliConfig, [policyDoc(as.issuer, echo.url, { routes: [...policyDoc(as.issuer, echo.url).routes as unknown[], { name: 'open2', match: { path: '/open2/*' }, upstream: 'app', auth: 'none' }] })]);
      await waitFor('version 3 seen', async () => (await admin(p, 'GET', '/policy')).body.latest_seen === 3, 10_000);
    } finally {
      process.kill(paused!, 'SIGCONT');
    }
    const r = await reload!;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor('version 3 active', async () => (await admin(p, 'GET', '/policy')).body.version === 3, 10_000);
    expect(await Promise.all([0, 1, 2, 3].map((i) => fresh(p, `/open2/${i}`)))).toEqual([200, 200, 200, 200]);
    // every worker still has the reloaded limit
    for (let i = 0; i < 6; i++) expect(await post100(p, `/open/after-${i}`)).toBe(413);
  }, 60_000);
});
