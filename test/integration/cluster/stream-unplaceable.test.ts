// A first deployment with fewer JetStream servers up than `cluster.revocation.replicas`: the proxy
// (real process, real 2-node nats-server cluster, replicas: 3) says which setting waits for which
// servers, once, instead of repeating "revocation stream missing: creating it again" every check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { BUS_AUTH, BUS_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { prefix } from './cluster-fixtures.js';

describe('revocation stream that the NATS cluster cannot place', () => {
  let nats: NatsCluster;
  let proxy: ProxyProcess | undefined;
  beforeAll(async () => { nats = await startNatsCluster(2); });
  afterAll(async () => { await proxy?.stop('SIGKILL'); await nats?.stop(); });

  it('names cluster.revocation.replicas in the warning and logs "missing" once, not every check', async () => {
    proxy = await startProxy(baseConfig('http://127.0.0.1:9', {
      cluster: { nats: { servers: [...nats.urls] }, subject_prefix: prefix('u'), auth: BUS_AUTH, revocation: { replicas: 3 } },
    }), { env: BUS_ENV });
    const msgs = (): string[] => proxy!.logs().map((l) => String(l.msg));
    await waitFor('the first attempt warning', () => msgs().includes('revocation stream unavailable; retrying'), 20_000);
    // ~6 checks (500 ms apart) of a stream that is still missing: before, each logged the line again
    await new Promise((r) => setTimeout(r, 3_000));
    const unavailable = proxy.logs().filter((l) => l.msg === 'revocation stream unavailable; retrying');
    expect(String(unavailable[0]!.err), proxy.output()).toMatch(/cluster\.revocation\.replicas is 3/);
    expect(msgs().filter((m) => m === 'revocation stream missing: creating it again').length, proxy.output()).toBeLessThanOrEqual(1);
  });
});
