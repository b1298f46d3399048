// `serve --workers 2` on a real nats-server with a fixed `cluster.member_id` (the example config's
// `member_id: proxy-a`): every process of the instance used to join the bus under that one id, so
// each worker ignored the other's heartbeats and, taking the other's `dpop.seen` for its own echo,
// its record of a used proof: a proof replayed at the other worker was accepted. A proof is
// accepted once, whichever worker gets it; each worker is its own member of the cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { clusterMemberConfig, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

describe('DPoP replay across workers of one instance with a fixed cluster.member_id (serve --workers 2, NATS)', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: NatsServer & { stop(): Promise<void> };
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream(), startNatsServer()]);
    const cfg = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      upstreams: { app: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      dpop: { replay: { owner_timeout_ms: 3_000 } },
      cluster: { nats: { servers: [nats.url] }, subject_prefix: `pmid${Math.random().toString(36).slice(2, 8)}`, auth: BUS_AUTH, member_id: 'proxy-a' },
      log: { level: 'info', access: true },
    });
    proxy = await startProxy(cfg, { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    // ready, and both workers in each other's view (2 serving processes; /readyz `members` counts the instance once)
    await waitReadyWithMembers(proxy, 2, 30_000, 'serving_processes');
    await new Promise((res) => setTimeout(res, 2_500)); // workers hear each other's heartbeats
  }, 90_000);

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close(), nats?.stop()]);
  });

  it('a proof is accepted once whichever worker gets it; both workers refuse its replays', async () => {
    const key = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const paths: string[] = [];
    const seen: number[][] = [];
    for (let i = 0; i < 6; i++) {
      const path = `/api/m${i}`;
      const p = await proof(key, { htu: `${proxy.url}${path}`, token });
      const statuses: number[] = [];
      for (let j = 0; j < 6; j++) {
        // a fresh connection each time: SO_REUSEPORT spreads them over both workers
        const r = await request(`${proxy.url}${path}`, { headers: { authorization: `DPoP ${token}`, dpop: p, connection: 'close' } });
        await r.body.dump();
        statuses.push(r.statusCode);
      }
      seen.push(statuses);
      paths.push(path);
    }
    expect(seen).toEqual(Array(6).fill([200, 401, 401, 401, 401, 401]));
    // the access log shows both workers answering (otherwise the test proved nothing about sharing);
    // the workers' lines come through pipes: waited for, a loaded machine delivers them late
    const pids = (): Set<unknown> => new Set(proxy.logs().filter((l) => l.msg === 'request' && paths.includes(String(l.path))).map((l) => l.pid));
    const end = Date.now() + 10_000;
    while (pids().size < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    expect(pids().size).toBe(2);
  });

  it('each process joins the bus under an id of its own, derived from cluster.member_id', async () => {
    const r = await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await r.body.json() as { cluster?: Record<string, unknown> };
    expect(r.statusCode).toBe(200);
    expect(body.cluster).toMatchObject({ members: 1, workers: 2, serving_processes: 2 });
  });
});
