// A member restarted with a state file older than the bucket: the start timeout
// (`cluster.start_timeout_ms`, 1 s here) passes while the bucket's latest version waits for the start
// floors (peers are heard for 1.5 s), so the member starts from its state file — and then must apply
// the bucket's version as a pushed one. Before, the watcher recorded the bucket's version as active
// without applying it: GET /policy and `policy status` said version 2 while the member served
// version 1 (a route version 2 added answered 404) until the next push.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyDoc, pushPolicies, readyz, statusOf } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

describe('cluster policy: a start from an older state file while the bucket has a newer version', () => {
  const stand = busStand();
  const { track } = stand;
  let p: ProxyProcess | null = null;

  it('serves the version it reports', async () => {
    const prefix = `pss${Math.random().toString(36).slice(2, 8)}`;
    const cliConfig = writeConfig(localConfig([stand.nats.url], prefix));
    const config = localConfig([stand.nats.url], prefix, { state_file: join(tempDir(), 'policy.state') });
    const v1 = policyDoc(stand.as.issuer, stand.echo.url);
    await pushPolicies(cliConfig, [v1]);
    p = track(await startProxy(config, { env: ENV, timeoutMs: 30_000 }));
    await waitFor('version 1 applied', async () => (await readyz(p!.adminUrl)).status === 200, 20_000);
    await p.stop();
    // version 2 adds a public route; the member starts again with version 1 in its state file
    await pushPolicies(cliConfig, [policyDoc(stand.as.issuer, stand.echo.url, { routes: [...v1.routes as unknown[], { name: 'open2', match: { path: '/open2/*' }, upstream: 'app', auth: 'none' }] })]);
    p = track(await startProxy(config, { env: ENV, timeoutMs: 30_000 }));
    await waitFor('version 2 reported', async () => (await admin(p!, 'GET', '/policy')).body.version === 2, 20_000);
    await waitFor('version 2 served', async () => (await statusOf(p!, '/open2/x')) === 200, 10_000);
  }, 90_000);
});
