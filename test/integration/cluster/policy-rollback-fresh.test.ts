// A rollback by replay against a member that starts WITHOUT a state file: someone who may write the
// policy bucket but holds no bus key copies an old authentic version back onto `current` (and may
// flush the history with a rollup). The starting member holds `current` to the highest authentic
// version still in the history and to the version its peers' sealed heartbeats say they run.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers } from 'nats';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { freePort } from '../../helpers/nats.js';
import { CLI, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyCli, policyDoc, pushPolicies, readyz, statusOf, writePolicy, QUICK_BEAT } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { reap } from '../../helpers/reaper.js';

describe('cluster policy: an old authentic version copied back, and a member that starts without a state file', () => {
  let servers: BusServers;
  const prefix = subjectPrefix('prf');
  const bucket = `${prefix.toUpperCase()}_POLICY`;
  let lone: ProxyProcess | null = null;

  beforeAll(async () => { servers = await startBusServers(); }, 60_000);

  afterAll(async () => { await servers?.stop(); });

  /** Version 1's sealed bytes put back as `current` by a bucket writer without the bus key; `rollup` also drops every older revision. */
  async function replayVersion1(rollup: boolean): Promise<number> {
    const nc = await connect({ servers: [servers.nats.url] });
    try {
      const kv = await nc.jetstream().views.kv(bucket, { bindOnly: true });
      const hist: Uint8Array[] = [];
      for await (const e of await kv.history({ key: 'current' })) hist.push(e.value);
      const old = hist[0]!; // the oldest revision still kept: version 1
      if (!rollup) await kv.put('current', old);
      else {
        const h = headers();
        h.set('Nats-Rollup', 'sub');
        await nc.jetstream().publish(`$KV.${bucket}.current`, old, { headers: h });
      }
      let kept = 0;
      for await (const _ of await kv.history({ key: 'current' })) kept++;
      return kept;
    } finally {
      await nc.close();
    }
  }

  it('a lone member with no state file starts with the newest authentic version in the bucket history, not the replayed old one', async () => {
    const { nats, as, echo, started } = servers;
    const cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    // version 1 lets anyone through /api; version 2 needs orders:write
    await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url), policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] })]);
    expect(await replayVersion1(false)).toBe(3);

    lone = await startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT)), env: ENV, timeoutMs: 30_000 });
    started.push(lone);
    await waitFor('ready', async () => (await readyz(lone!.adminUrl)).status === 200, 20_000);
    expect((await admin(lone, 'GET', '/policy')).body.version).toBe(2);
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(lone, '/api/x', reader)).toBe(403);
    expect(await statusOf(lone, '/api/x')).toBe(401);
    expect(lone.output()).toMatch(/bucket entry ignored at start/);
  }, 90_000);

  it('with the history flushed too, a new member holds to the version its peers run: nothing served until a newer version', async () => {
    const { nats, as, echo } = servers;
    expect(lone, 'the first test starts the member running version 2').not.toBeNull();
    expect(await replayVersion1(true)).toBe(1);
    const cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    const adminPort = await freePort();
    const cfgPath = writeConfig({ ...localConfig([nats.url], prefix, {}, {}, QUICK_BEAT), admin: { listen: { host: '127.0.0.1', port: adminPort }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' } });
    const proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', cfgPath], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    try {
      const adminUrl = `http://127.0.0.1:${adminPort}`;
      await waitFor('the version refused as older than the peers\'', async () => /bucket entry ignored at start/.test(out), 20_000);
      const rz = await readyz(adminUrl);
      expect(rz.status).toBe(503);
      expect(rz.body.policy.version).toBe(0);
      expect(rz.body.policy.waiting_for).toMatch(/latest version 1 is below version 2, the version peer .* runs/);
      expect(out).not.toMatch(/"msg":"listening"/);

      // a push numbers from the replayed entry: version 2 with other content — the peer runs another
      // version 2, so it is refused here as it is there; the next push (3) is newer for everyone
      const restrictive = writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:admin'] }));
      const r2 = await policyCli(['push', '--config', cliConfig, '--policy', restrictive]);
      expect(r2.code, r2.stderr).toBe(0);
      await waitFor('the second version 2 refused', async () => (out.match(/bucket entry ignored at start/g) ?? []).length >= 2, 20_000);
      expect(out).not.toMatch(/"msg":"listening"/);
      expect((await admin(lone!, 'GET', '/policy')).body.version).toBe(2);

      const r3 = await policyCli(['push', '--config', cliConfig, '--policy', restrictive]);
      expect(r3.code, r3.stderr).toBe(0);
      await waitFor('listening with version 3', async () => /"msg":"listening"/.test(out), 30_000);
      await waitFor('ready', async () => (await readyz(adminUrl)).status === 200, 20_000);
      expect((await readyz(adminUrl)).body.policy.version).toBe(3);
      const port = Number(/"msg":"listening".*?"port":(\d+)/.exec(out)?.[1] ?? /"port":(\d+).*"msg":"listening"/.exec(out)?.[1]);
      const r = await fetch(`http://127.0.0.1:${port}/api/x`, { headers: { authorization: `Bearer ${await as.issueJwt({ scope: 'orders:write' })}` } });
      expect(r.status).toBe(403); // version 3 needs orders:admin
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  }, 120_000);

  it('a push after a replay numbers past the newest authentic version in the history, so the members apply it', async () => {
    const { nats, as, echo } = servers;
    expect(lone, 'the first test starts the member').not.toBeNull();
    const running = Number((await admin(lone!, 'GET', '/policy')).body.version);
    expect(running).toBeGreaterThanOrEqual(2);
    await replayVersion1(false);
    const cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:read'] }))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`pushed version ${running + 1} `));
    await waitFor(`version ${running + 1} applied`, async () => Number((await admin(lone!, 'GET', '/policy')).body.version) === running + 1, 20_000);
    expect(await statusOf(lone!, '/api/x', await as.issueJwt({ scope: 'orders:read' }))).toBe(200);
  }, 60_000);
});
