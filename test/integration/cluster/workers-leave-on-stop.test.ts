// `serve --workers 2` on NATS stopped with SIGTERM: each worker's cluster member says
// `member.left` as a single `serve` does, so a peer drops it at once instead of counting it
// a crash (expired after 3 missed heartbeats — meanwhile the peer still routes introspection
// and DPoP replay keys to owners that are gone). The primary exits 0. /readyz counts what an operator counts:
// two instances (a --workers instance is one), its workers apart (before, `members: 3` for these two proxies).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let nats: NatsServer & { stop(): Promise<void> };
let peer: ProxyProcess;
let workers: ProxyProcess | null = null;

beforeAll(async () => {
  [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
  const config = memberConfig(as, echo.url, { nats: { servers: [nats.url] }, subject_prefix: `ptl${Math.random().toString(36).slice(2, 8)}`, auth: BUS_AUTH });
  const env = { ...ADMIN_ENV, ...BUS_ENV };
  peer = await startProxy(config, { env, timeoutMs: 40_000 });
  workers = await startProxy(config, { env, args: ['--workers', '2'], timeoutMs: 40_000 });
}, 90_000); // two starts in turn, each bounded by 40 s on a loaded host

afterAll(async () => {
  await workers?.stop();
  await peer?.stop();
  await nats?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('SIGTERM to serve --workers 2 on NATS', () => {
  it('its workers leave the cluster (the peer drops them without expiring any) and the primary exits 0', async () => {
    await waitFor('the peer hears both workers', async () => (await metric(peer, 'portcullis_cluster_members')) === 3, 15_000);
    const expiredBefore = await metric(peer, 'portcullis_cluster_members_expired_total');
    await waitFor('the --workers instance hears the peer', async () => (await metric(workers!, 'portcullis_cluster_members')) === 3, 15_000);
    for (const p of [peer, workers!]) expect((await admin(p, 'GET', '/readyz')).body.cluster).toMatchObject({ members: 2, workers: 2, serving_processes: 3 });
    const code = await workers!.stop('SIGTERM');
    workers = null;
    expect(code).toBe(0);
    await waitFor('the peer hears only itself', async () => (await metric(peer, 'portcullis_cluster_members')) === 1, 15_000);
    await waitFor('/readyz counts one instance', async () => (await admin(peer, 'GET', '/readyz')).body.cluster?.members === 1, 5_000);
    expect((await admin(peer, 'GET', '/readyz')).body.cluster).toMatchObject({ members: 1, workers: 0, serving_processes: 1 });
    expect(await metric(peer, 'portcullis_cluster_members_expired_total'), 'the stopped workers were expired (never said member.left)').toBe(expiredBefore);
  });
});
