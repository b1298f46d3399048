// The policy bucket emptied under running members — `nats kv purge … current` (history gone with it), its stream's
// max age expiring the only value, the bucket deleted and created again — and then a push. Before, the push numbered
// from the empty bucket ("pushed version 1"): every running member ignored it as not newer than the version it ran,
// and a new member, held to its peers' version, stayed closed. Now the push numbers past the members' versions.
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, QUICK_BEAT, localConfig, policyCli, policyDoc, pushPolicies, readyz, statusOf, writePolicy } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

describe('cluster policy: a push after the bucket was emptied under running members', () => {
  const stand = busStand();
  const { track } = stand;

  for (const how of ['purged', 'posted'] as const) it.concurrent(`numbers past the members' version (${how === 'purged' ? 'policy push' : 'POST /policy'})`, async () => {
    const prefix = `ppg${Math.random().toString(36).slice(2, 8)}`;
    const cliConfig = writeConfig(localConfig([stand.nats.url], prefix, {}, {}, QUICK_BEAT));
    const v1 = policyDoc(stand.as.issuer, stand.echo.url);
    const v2 = policyDoc(stand.as.issuer, stand.echo.url, { routes: [...v1.routes as unknown[], { name: 'open2', match: { path: '/open2/*' }, upstream: 'app', auth: 'none' }] });
    await pushPolicies(cliConfig, [v1, v2]);
    const cfg = localConfig([stand.nats.url], prefix, {}, {}, QUICK_BEAT);
    const [a, b] = await Promise.all([0, 1].map(async () => track(await startProxy(cfg, { env: ENV, timeoutMs: 30_000 }))));
    for (const p of [a!, b!]) await waitFor('a member on version 2', async () => (await admin(p, 'GET', '/policy')).body.version === 2, 20_000);

    // a careless operator empties the bucket: the purge marker drops `current`'s whole history
    const nc = await connect({ servers: [stand.nats.url] });
    try {
      const kv = await nc.jetstream().views.kv(`${prefix.toUpperCase()}_POLICY`, { bindOnly: true });
      await kv.purge('current');
    } finally {
      await nc.close();
    }

    const v3 = policyDoc(stand.as.issuer, stand.echo.url, { routes: [...v2.routes as unknown[], { name: 'open3', match: { path: '/open3/*' }, upstream: 'app', auth: 'none' }] });
    if (how === 'purged') {
      const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(v3)]);
      expect(r.stdout, r.stderr).toMatch(/^pushed version 3 /);
    } else {
      const r = await admin(a!, 'POST', '/policy', v3);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.version).toBe(3);
    }
    for (const p of [a!, b!]) await waitFor('a member serving the new version', async () => (await statusOf(p, '/open3/x')) === 200, 20_000);
    // a member started now (no state file, its peers on version 3) starts with it
    const c = track(await startProxy(cfg, { env: ENV, timeoutMs: 30_000 }));
    await waitFor('the new member ready', async () => (await readyz(c.adminUrl)).status === 200, 20_000);
    expect((await admin(c, 'GET', '/policy')).body.version).toBe(3);
    const st = await policyCli(['status', '--config', cliConfig]);
    expect(st.code, st.stdout).toBe(0);
    await Promise.all([a!.stop(), b!.stop(), c.stop()]);
  }, 120_000);
});
