// A rollback by replay: someone who may write the policy bucket but holds no bus key copies an
// old, authentic version back on top of `current`. Running members ignore it (not newer); a member
// that restarts must not start from it either when its state file holds a newer version.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyDoc, pushPolicies, readyz, statusOf } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('cluster policy: an old authentic version copied back onto the bucket', () => {
  let servers: BusServers;
  const prefix = subjectPrefix('prb');

  beforeAll(async () => { servers = await startBusServers(); }, 60_000);

  afterAll(async () => { await servers?.stop(); });

  it('a restarted member keeps the newer version of its state file (degraded), not the replayed old one', async () => {
    const { nats, as, echo, started } = servers;
    const cliConfig = writeConfig(localConfig([nats.url], prefix));
    // version 1 lets anyone through /api; version 2 needs orders:write
    await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url), policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] })]);
    const stateFile = join(tempDir('portcullis-policy-rollback-'), 'policy.state');
    const instance = writeConfig(localConfig([nats.url], prefix, { state_file: stateFile }));
    const p1 = await startProxy(null, { configPath: instance, env: ENV, timeoutMs: 30_000 });
    started.push(p1);
    await waitFor('version 2', async () => (await readyz(p1.adminUrl)).status === 200 && (await admin(p1, 'GET', '/policy')).body.version === 2, 20_000);
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(p1, '/api/x', reader)).toBe(403);

    // the replay: version 1's sealed bytes, read from the bucket's history, put back as `current`
    const nc = await connect({ servers: [nats.url] });
    try {
      const kv = await nc.jetstream().views.kv(`${prefix.toUpperCase()}_POLICY`, { bindOnly: true });
      const old = await kv.get('current', { revision: 1 });
      expect(old?.value.byteLength).toBeGreaterThan(0);
      await kv.put('current', old!.value);
    } finally {
      await nc.close();
    }
    // the running member is not moved by it
    await waitFor('ignored as not newer', async () => Number((await admin(p1, 'GET', '/policy')).body.version) === 2 && /not newer/.test(p1.output()), 10_000);
    expect(await statusOf(p1, '/api/x', reader)).toBe(403);
    await p1.stop();

    // restarted: the bucket's `current` is the old version; its state file says 2
    const p2 = await startProxy(null, { configPath: instance, env: ENV, timeoutMs: 30_000 });
    started.push(p2);
    await waitFor('ready', async () => (await readyz(p2.adminUrl)).status === 200, 20_000);
    const pol = (await admin(p2, 'GET', '/policy')).body;
    expect(pol.version).toBe(2);
    expect(await statusOf(p2, '/api/x', reader)).toBe(403);
    expect(await statusOf(p2, '/api/x')).toBe(401);
  });
});
