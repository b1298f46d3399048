// Junk on the policy bucket's `current`, or `current` deleted — by someone with the proxy's NATS
// credentials but not the bus key — and a member that starts without a state file: it starts from the newest
// authentic version still in the bucket's history (held to the same floors as any start). Before, it
// ignored the junk and then waited for a push, proxy port closed, for as long as the junk stayed.
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyCli, policyDoc, pushPolicies, readyz, statusOf, writePolicy } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

describe('cluster policy: junk on `current` and a starting member', () => {
  const stand = busStand();
  const { track } = stand;

  // the two cases side by side: each has a bucket (subject prefix) and a member of its own
  for (const how of ['junk', 'deleted'] as const) it.concurrent(`starts from the history's newest authentic version (current ${how})`, async () => {
    const prefix = `pjc${Math.random().toString(36).slice(2, 8)}`;
    const cliConfig = writeConfig(localConfig([stand.nats.url], prefix));
    const v1 = policyDoc(stand.as.issuer, stand.echo.url);
    const v2 = policyDoc(stand.as.issuer, stand.echo.url, { routes: [...v1.routes as unknown[], { name: 'open2', match: { path: '/open2/*' }, upstream: 'app', auth: 'none' }] });
    await pushPolicies(cliConfig, [v1, v2]);
    const nc = await connect({ servers: [stand.nats.url] });
    try {
      const kv = await nc.jetstream().views.kv(`${prefix.toUpperCase()}_POLICY`, { bindOnly: true });
      if (how === 'junk') await kv.put('current', new TextEncoder().encode('{"v":1,"version":99} not sealed'));
      else await kv.delete('current');
    } finally {
      await nc.close();
    }
    const p = track(await startProxy(localConfig([stand.nats.url], prefix), { env: ENV, timeoutMs: 30_000 }));
    await waitFor('the member ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
    const s = (await admin(p, 'GET', '/policy')).body;
    expect([s.version, s.from]).toEqual([2, 'bus']);
    expect(await statusOf(p, '/open2/x')).toBe(200);
    expect(await statusOf(p, '/api/x')).toBe(401);
    // the next push follows the history's newest version: before, with `current` deleted it was
    // "pushed version 1" (no history read under a delete marker), which the member at 2 never applied
    const v3 = policyDoc(stand.as.issuer, stand.echo.url, { routes: [...v2.routes as unknown[], { name: 'open3', match: { path: '/open3/*' }, upstream: 'app', auth: 'none' }] });
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(v3)]);
    expect(r.stdout, r.stderr).toMatch(/^pushed version 3 /);
    await waitFor('the member on version 3', async () => (await statusOf(p, '/open3/x')) === 200, 20_000);
    await p.stop();
  }, 60_000);
});
