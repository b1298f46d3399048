// The policy bucket deleted under a running member by someone with NATS credentials (no bus key),
// then created again holding an old authentic version: the member keeps the version it runs,
// ignores the old one and says in its log that the bucket went and came back; a new member holds
// to the version its peer runs and does not start from the replayed one. A bucket re-created and pushed
// again holds another policy under the number a member runs: it keeps its own and says so until a new push.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyCli, policyDoc, pushPolicies, readyz, statusOf, QUICK_BEAT } from './policy-fixtures.js';
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
  it('a bucket holding another policy under the version a member runs: the member keeps its own, says so in GET /policy and policy status, and a new push ends it', async () => {
    const { nats, as, echo, started } = servers;
    const twin = subjectPrefix('ptw');
    const cliConfig = writeConfig(localConfig([nats.url], twin, {}, {}, QUICK_BEAT));
    const name = `${twin.toUpperCase()}_POLICY`;
    const nc = await connect({ servers: [nats.url] });
    try {
      const js = nc.jetstream();
      const jsm = await nc.jetstreamManager();
      // two authentic version 1 entries: the open policy, then (the bucket deleted and pushed again) orders:write
      await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url)]);
      const open = (await (await js.views.kv(name, { bindOnly: true })).get('current'))!.value;
      await jsm.streams.delete(`KV_${name}`);
      await js.views.kv(name, { history: 16 });
      await pushPolicies(cliConfig, [policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] })]);
      const scoped = (await (await js.views.kv(name, { bindOnly: true })).get('current'))!.value;
      await jsm.streams.delete(`KV_${name}`);
      await (await js.views.kv(name, { history: 16 })).put('current', open);

      const p = await startProxy(null, { configPath: writeConfig(localConfig([nats.url], twin, {}, {}, QUICK_BEAT)), env: ENV, timeoutMs: 30_000 });
      started.push(p);
      await waitFor('version 1', async () => (await readyz(p.adminUrl)).status === 200 && (await admin(p, 'GET', '/policy')).body.version === 1, 20_000);
      const before = (await admin(p, 'GET', '/policy')).body;
      expect(before.error).toBeNull();
      expect(await statusOf(p, '/api/x')).toBe(200);

      await (await js.views.kv(name, { bindOnly: true })).put('current', scoped);
      await waitFor('the member to report the other version 1', async () => (await admin(p, 'GET', '/policy')).body.error !== null, 10_000);
      const after = (await admin(p, 'GET', '/policy')).body;
      expect(after.version).toBe(1);
      expect(after.digest).toBe(before.digest);
      expect(after.error).toMatch(/the bucket holds version 1 with digest [0-9a-f]{12}, not the [0-9a-f]{12} this member runs/);
      expect(await statusOf(p, '/api/x')).toBe(200);
      const st = await policyCli(['status', '--config', cliConfig, '--json']);
      expect(st.code).toBe(1);
      expect(JSON.parse(st.stdout).members[0].error).toBe(after.error);

      // the way out: a new version, applied by every member, and the error is gone
      await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url)]);
      await waitFor('version 2 without an error', async () => { const b = (await admin(p, 'GET', '/policy')).body; return b.version === 2 && b.error === null; }, 20_000);
    } finally {
      await nc.close();
    }
  }, 90_000);
});
