// Two members whose bus (a real nats-server) comes up after they started: each connects with a view
// that has not heard its peer yet (its first heartbeat was dropped while disconnected) and, judging
// itself the owner of every proof key, accepted the same DPoP proof sent to both at once. A proof
// whose owner is not known yet waits for the view to converge, then is judged by its owner: one use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, subjectPrefix } from '../../helpers/cluster-members.js';
import { freePort, startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';

describe('DPoP replay right after a late bus connect (2 members, nats-server started after them)', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  let members: ProxyProcess[] = [];

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream()]);
    const port = await freePort();
    const cfg = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      upstreams: { app: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      dpop: { replay: { owner_timeout_ms: 3_000 } },
      // a long period: the views stay unconverged for seconds after the connect, not for a lucky millisecond
      cluster: busSection(`nats://127.0.0.1:${port}`, subjectPrefix('dlate'), { heartbeat_ms: 2_000, start_timeout_ms: 0 }),
    });
    members = await Promise.all([startProxy(cfg, { env: BUS_ENV }), startProxy(cfg, { env: BUS_ENV })]);
    nats = await startNatsServer({ port });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all([as?.close(), echo?.close(), nats?.stop()]);
  });

  it('the same proof sent to both members at once passes at exactly one', async () => {
    const bearer = await as.issueJwt();
    // both serve (connected, revocations replayed): the first moment a replay across them was possible
    await waitFor('both members serving', async () => {
      const rs = await Promise.all(members.map((m) => request(`${m.url}/api/probe`, { headers: { authorization: `Bearer ${bearer}` } })));
      await Promise.all(rs.map((r) => r.body.dump()));
      return rs.every((r) => r.statusCode === 200);
    }, 20_000, { everyMs: 20 });
    const key = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const passed: number[] = [];
    for (let i = 0; i < 6; i++) {
      const path = `/api/p${i}`;
      const rs = await Promise.all(members.map(async (m) => {
        const p = await proof(key, { htu: `${m.url}${path}`, token, jti: `late-bus-${i}` });
        return request(`${m.url}${path}`, { headers: { authorization: `DPoP ${token}`, dpop: p } });
      }));
      await Promise.all(rs.map((r) => r.body.dump()));
      passed.push(rs.filter((r) => r.statusCode === 200).length);
    }
    expect(passed).toEqual([1, 1, 1, 1, 1, 1]);
  });
});
