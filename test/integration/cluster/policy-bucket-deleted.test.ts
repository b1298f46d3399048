// The policy bucket deleted under a running member by someone with NATS credentials (no bus key),
// then created again holding an old authentic version: the member keeps the version it runs,
// ignores the old one and says in its log that the bucket went and came back; a new member holds
// to the version its peer runs and does not start from the replayed one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyDoc, pushPolicies, readyz, statusOf, QUICK_BEAT } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('cluster policy: the bucket deleted and created again under a running member', () => {
  let servers: BusServers;
  const prefix = subjectPrefix('pbd');

  beforeAll(async () => { servers = await startBusServers(); }, 60_000);
  afterAll(async () => { await servers?.stop(); });

  it('keeps its version, says the bucket is gone and back, and a new member does not start from the replayed version 1', async () => {
    const { nats, as, echo, started } = servers;
    const cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    // version 1 lets anyone through /api; version 2 needs orders:write
    await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url), policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] })]);
    const p1 = await startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT)), env: ENV, timeoutMs: 30_000 });
    started.push(p1);
    await waitFor('version 2', async () => (await readyz(p1.adminUrl)).status === 200 && (await admin(p1, 'GET', '/policy')).body.version === 2, 20_000);
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(p1, '/api/x', reader)).toBe(403);

    const nc = await connect({ servers: [nats.url] });
    try {
      const name = `${prefix.toUpperCase()}_POLICY`;
      const js = nc.jetstream();
      const v1 = (await (await js.views.kv(name, { bindOnly: true })).get('current', { revision: 1 }))!.value;
      await (await nc.jetstreamManager()).streams.delete(`KV_${name}`);
      await waitFor('p1 to say the bucket is gone', async () => /the bucket is gone/.test(p1.output()), 10_000);
      expect(await statusOf(p1, '/api/x', reader)).toBe(403);

      await (await js.views.kv(name, { history: 16 })).put('current', v1);
      await waitFor('p1 to say the bucket is back', async () => /the bucket exists again/.test(p1.output()), 10_000);
      expect((await admin(p1, 'GET', '/policy')).body.version).toBe(2);
      expect(await statusOf(p1, '/api/x', reader)).toBe(403);
    } finally {
      await nc.close();
    }
    // a new member, no state file: its peer runs version 2, so the replayed version 1 is refused and it does not start
    const p2 = startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT)), env: ENV, timeoutMs: 8_000 });
    await expect(p2).rejects.toThrow(/did not report listening/);
  }, 90_000);
});
