// A member whose NATS server freezes (the host hangs or its link drops packets: sockets stay open,
// nothing answers) still takes the next pushed policy version from the other servers. Its policy
// connection used nats.js's default liveness (a ping every 2 min, 2 missed): it stayed on the frozen
// server for minutes and kept serving the old version while its peers applied the new one (seen in
// the multi-host suite's scenario f with host c cut).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { admin } from './proxy-fixtures.js';
import { ENV, QUICK_BEAT, localConfig, policyCli, policyDoc, readyz, statusOf, writePolicy } from './policy-fixtures.js';

describe('cluster policy: a member on a frozen NATS server', () => {
  let nats: NatsCluster;
  let as: AuthServer;
  let echo: EchoUpstream;
  let onFrozen: ProxyProcess;
  let cliConfig = '';

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsCluster(3), startAuthServer(), startEchoUpstream()]);
    const prefix = subjectPrefix('pfz');
    // the CLI talks to n1; the member knows only n3 (it learns n1 and n2 from the cluster's INFO)
    cliConfig = writeConfig(localConfig([nats.urls[0]!], prefix, {}, {}, QUICK_BEAT));
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url))]);
    expect(r.code, r.stderr).toBe(0);
    onFrozen = await startProxy(null, { configPath: writeConfig(localConfig([nats.urls[2]!], prefix, {}, {}, QUICK_BEAT)), env: ENV, timeoutMs: 30_000 });
    await waitFor('ready', async () => (await readyz(onFrozen.adminUrl)).status === 200, 20_000);
  }, 90_000);

  afterAll(async () => {
    nats?.servers[2]?.resume();
    await onFrozen?.stop();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('applies a version pushed while its server is frozen, through another server', async () => {
    const reader = await as.issueJwt({ scope: 'orders:read' });
    expect(await statusOf(onFrozen, '/api/x', reader)).toBe(200);
    nats.servers[2]!.pause();
    // JetStream keeps quorum on n1 and n2 (it may elect new leaders first: the CLI retries its own push)
    await waitFor('version 2 pushed through n1', async () => {
      const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }))]);
      return r.code === 0;
    }, 40_000);
    // the bound is generous for a loaded host; nats.js's default liveness kept the member on n3 for 2–4 min
    await waitFor('the member on the frozen server to apply version 2', async () => (await statusOf(onFrozen, '/api/x', reader)) === 403, 45_000, {
      detail: () => onFrozen.output().slice(-2000),
    });
    // a push retried after a leader election may have written version 3 (the same document)
    const body = (await admin(onFrozen, 'GET', '/policy')).body as { version: number; error: unknown };
    expect(body.version).toBeGreaterThanOrEqual(2);
    expect(body.error).toBeNull();
  }, 120_000);
});
