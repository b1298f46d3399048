// `verifier` is cluster policy, and piscina starts every `verifier.pool_size` thread at once when a process
// starts. One holder of a member's admin token (POST /policy) or of the bus key could push a version with
// pool_size 100 000: running members kept their pool (restart-only), stored the version in their state
// files, and every member started after that died at boot (V8: "Fatal process OOM"). Such a version is
// refused now wherever it is checked, with its path; the member keeps the version it runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyCli, policyDoc, writePolicy, QUICK_BEAT } from './policy-fixtures.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';

describe('cluster policy: a verifier pool no process can start', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let member: ProxyProcess;
  let cliConfig: string;
  const prefix = subjectPrefix('pps');

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    const first = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url))]);
    expect(first.code, first.stderr).toBe(0);
    member = await startProxy(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT), { env: ENV, timeoutMs: 30_000 });
  }, 60_000);

  afterAll(async () => {
    await member?.stop();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  const huge = (): Record<string, unknown> => policyDoc(as.issuer, echo.url, { extra: { verifier: { pool_size: 100_000 } } });

  it('policy push exits 2 naming verifier.pool_size, and nothing is published', async () => {
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(huge())]);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toContain('verifier.pool_size');
    expect((await admin(member, 'GET', '/policy')).body).toMatchObject({ version: 1, error: null });
  }, 60_000);

  it('POST /policy answers 422 naming verifier.pool_size; the member keeps version 1', async () => {
    const r = await admin(member, 'POST', '/policy', huge());
    expect(r.status).toBe(422);
    expect(JSON.stringify(r.body)).toContain('verifier.pool_size');
    expect((await admin(member, 'GET', '/policy')).body).toMatchObject({ version: 1 });
  }, 60_000);

  it('check-config of a single file exits 2 naming verifier.pool_size', async () => {
    const file = writeConfig({ ...huge(), server: { listen: { host: '127.0.0.1', port: 0 } }, admin: { listen: { host: '127.0.0.1', port: 0 } } });
    const r = await runCli(['check-config', '--no-env', file], {});
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('verifier.pool_size');
  }, 60_000);
});
