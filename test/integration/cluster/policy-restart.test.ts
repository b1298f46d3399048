// Cluster policy at start-up and across the primary's workers: an instance restarted while
// NATS is down serves the version it persisted (ready, degraded), never its file's stale
// policy; one without any state stays closed and says why, then starts once NATS is back;
// with --workers 2 a pushed version reaches every worker, one an older build pushed with a hidden route too.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { connect } from 'nats';
import { PolicyStore, policyBucket, pushPolicy } from '../../../cluster/policy/index.js';
import { busAuthFrom } from '../../../cluster/protocol/index.js';
import { clusterSettings } from '../../../cluster/revocation/index.js';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { freePort } from '../../helpers/nats.js';
import { BUS_AUTH, BUS_ENV, CLI, startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyCli, policyDoc, readyz, statusOf, writePolicy, QUICK_BEAT } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { reap } from '../../helpers/reaper.js';

describe('cluster policy: start-up without NATS, and workers', () => {
  let servers: BusServers;
  let prefix = '';
  let cliConfig = '';
  const dir = tempDir('portcullis-policy-state-');
  const stateFile = join(dir, 'policy.state');
  let instanceConfig = '';

  beforeAll(async () => {
    servers = await startBusServers();
    const { nats, as, echo } = servers;
    prefix = subjectPrefix('ptr');
    cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    // version 1 needs orders:write on /api; the instance's own file says the opposite (no token needed): it must never serve that
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }))]);
    expect(r.code, r.stderr).toBe(0);
    const stale = openPolicyDoc(as.issuer, echo.url);
    instanceConfig = writeConfig({
      ...localConfig([nats.url], prefix, { state_file: stateFile }, {}, QUICK_BEAT),
      ...stale,
    });
    const cfg = (await import('yaml')).parse((await import('node:fs')).readFileSync(instanceConfig, 'utf8')) as Record<string, any>;
    cfg.cluster.revocation = { snapshot_file: join(dir, 'revocations.snap'), snapshot_max_age_s: 300, snapshot_interval_ms: 50 };
    (await import('node:fs')).writeFileSync(instanceConfig, (await import('yaml')).stringify(cfg));
  }, 60_000);

  afterAll(async () => { await servers?.stop(); });

  it('with --workers 2 the primary applies a pushed version to every worker', async () => {
    const { nats, as, echo, started } = servers;
    const p = await startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT)), args: ['--workers', '2'], env: ENV, timeoutMs: 40_000 });
    started.push(p);
    await waitFor('ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(p, '/api/x', reader)).toBe(403);
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'], extra: { identity: { headers: { 'X-Auth-Subject': 'sub' } } } }))]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('version 2 at the primary', async () => (await admin(p, 'GET', '/policy')).body.version === 2, 15_000);
    const rz = await readyz(p.adminUrl);
    expect(rz.body.policy).toMatchObject({ version: 2, error: null });
    // rollback to the version that needs no scope: every request, whichever worker answers, sees it
    const back = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url))]);
    expect(back.code, back.stderr).toBe(0);
    await waitFor('version 3 at the primary', async () => (await admin(p, 'GET', '/policy')).body.version === 3, 15_000);
    const codes = await Promise.all(Array.from({ length: 40 }, () => statusOf(p, '/api/x', reader)));
    expect(new Set(codes)).toEqual(new Set([200]));
    // version 4 as an older build's push could write it: /api/* twice, the later route hidden (a push refuses that
    // now). Before, this member refused it and stayed on version 3 while older members ran 4: two policies in one cluster
    const v3 = policyDoc(as.issuer, echo.url);
    const hidden = { ...v3, routes: [...v3.routes as unknown[], { name: 'api-open', match: { path: '/api/*' }, upstream: 'app', auth: 'none' }] };
    const nc = await connect({ servers: [nats.url] });
    try {
      const bus = busAuthFrom(clusterSettings({ nats: { servers: [nats.url] }, subject_prefix: prefix, auth: BUS_AUTH }).auth, BUS_ENV);
      await pushPolicy(await PolicyStore.open(nc, { bucket: policyBucket(prefix) }), bus, hidden, { by: 'older-build' });
    } finally {
      await nc.close();
    }
    await waitFor('version 4 at the primary', async () => (await admin(p, 'GET', '/policy')).body.version === 4, 15_000);
    expect((await readyz(p.adminUrl)).body.policy).toMatchObject({ version: 4, error: null });
    // served as the route table reads it: the first /api/* route (a token needed) on every worker, the hidden one never
    const anonymous = await Promise.all(Array.from({ length: 20 }, () => statusOf(p, '/api/x')));
    expect(new Set(anonymous)).toEqual(new Set([401]));
    await p.stop();
  }, 60_000); // a proxy with two workers and three pushes: past the default 30 s on a loaded 2-core machine (load 30)

  it('persists the applied version (0600) and, restarted while NATS is down, serves it (ready, degraded) instead of its file\'s policy', async () => {
    const { nats, as, echo, started } = servers;
    const p1 = await startProxy(null, { configPath: instanceConfig, env: ENV, timeoutMs: 30_000 });
    started.push(p1);
    await waitFor('ready', async () => (await readyz(p1.adminUrl)).status === 200, 20_000);
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(p1, '/api/x', reader)).toBe(200); // version 4 (version 3 plus a hidden route): no scope needed
    await waitFor('the state file', async () => { try { return statSync(stateFile).size > 0; } catch { return false; } }, 5_000);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    // version 5 needs orders:write again; then the instance stops and NATS goes away
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }))]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('version 5', async () => (await statusOf(p1, '/api/x', reader)) === 403, 15_000);
    await sleepMs(300); // a revocation snapshot after the last catch-up
    await p1.stop();
    await nats.kill();

    const p2 = await startProxy(null, { configPath: instanceConfig, env: ENV, timeoutMs: 30_000 });
    started.push(p2);
    await waitFor('ready (degraded)', async () => (await readyz(p2.adminUrl)).status === 200, 20_000);
    const rz = await readyz(p2.adminUrl);
    expect(rz.body.policy).toMatchObject({ version: 5, from: 'state_file', degraded: true });
    expect(await statusOf(p2, '/api/x', reader)).toBe(403); // version 5, not the file's "auth: none"
    expect(await statusOf(p2, '/api/x', await as.issueJwt({ scope: 'orders:write' }))).toBe(200);
    await p2.stop();
  }, 90_000);

  it('without NATS and without a state file: the proxy port stays closed and /readyz says why; it starts once NATS is back', async () => {
    const { nats, as } = servers;
    const adminPort = await freePort();
    const cfgPath = writeConfig({ ...localConfig([nats.url], prefix, {}, {}, QUICK_BEAT), admin: { listen: { host: '127.0.0.1', port: adminPort }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' } });
    const proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', cfgPath], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    try {
      const adminUrl = `http://127.0.0.1:${adminPort}`;
      await waitFor('the admin listener', async () => (await readyz(adminUrl).catch(() => ({ status: 0, body: null }))).status !== 0, 20_000);
      const rz = await readyz(adminUrl);
      expect(rz.status).toBe(503);
      expect(rz.body.policy.waiting_for).toMatch(/NATS not reachable and no cluster\.policy\.state_file/);
      expect(out).not.toMatch(/"msg":"listening"/);
      await nats.restart();
      await waitFor('listening once NATS is back', async () => /"msg":"listening"/.test(out), 30_000);
      await waitFor('ready', async () => (await readyz(adminUrl)).status === 200, 20_000);
      const port = Number(/"msg":"listening".*?"port":(\d+)/.exec(out)?.[1] ?? /"port":(\d+).*"msg":"listening"/.exec(out)?.[1]);
      const r = await request(`http://127.0.0.1:${port}/api/x`, { headers: { authorization: `Bearer ${await as.issueJwt({ scope: 'orders:read' })}` } });
      await r.body.dump();
      expect(r.statusCode).toBe(403); // version 5
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  }, 90_000);
});

function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
