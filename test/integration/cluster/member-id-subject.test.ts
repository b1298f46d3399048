// A heartbeat whose member id is no NATS subject token ("a.b", "*", ">"): sealed with the bus key (a key
// holder, or a newer build with other ids), it must not enter the member view. Before, it did, and it
// owned its rendezvous share of the opaque tokens: the owner request to it could not even be addressed
// (its subject is built from the id), so every lookup of those tokens failed at every member.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_KEY, type ProxyProcess } from '../../helpers/proxy-process.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('membership: a heartbeat whose member id is no subject token', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let A: ProxyProcess;
  const prefix = subjectPrefix('mids');

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    const config = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 60, negative_ttl_s: 1 } } },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, prefix, { member_id: 'mids-a' }),
    });
    [A] = await startMembers(1, config, { PT_INTROSPECTION_SECRET: 'portcullis-secret' });
  }, 60_000);

  afterAll(async () => {
    await A?.stop();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('is refused as invalid; every opaque token is still looked up and admitted', async () => {
    const nc = await connect({ servers: [nats.url] });
    const auth = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
    const codec = new Codec();
    const subject = `${prefix}.members`;
    const beat = (id: string): Uint8Array => auth.seal(subject, codec.encode({ type: 'member.heartbeat', v: 2, id, role: 'single', host: 'nowhere', pid: 1, startedAt: Date.now() - 1_000, seq: 1, intervalMs: 10_000, policy: null }));
    const ids = ['x.y', 'sp ace', '>', '*'];
    try {
      const invalid = await metric(A, 'portcullis_bus_messages_rejected_total', 'reason="invalid"');
      const keep = setInterval(() => { for (const id of ids) nc.publish(subject, beat(id)); }, 500);
      try {
        for (const id of ids) nc.publish(subject, beat(id));
        await nc.flush();
        await waitFor('the beats judged', async () => (await metric(A, 'portcullis_bus_messages_rejected_total', 'reason="invalid"')) >= invalid + ids.length || (await metric(A, 'portcullis_cluster_members')) > 1, 10_000);
        expect(await metric(A, 'portcullis_cluster_members')).toBe(1);
        const statuses: number[] = [];
        for (let i = 0; i < 12; i++) {
          const r = await request(`${A.url}/api/x`, { headers: { authorization: `Bearer ${as.issueOpaque({ sub: `u${i}` }, 600)}` } });
          await r.body.dump();
          statuses.push(r.statusCode);
        }
        expect(statuses).toEqual(Array(12).fill(200));
      } finally {
        clearInterval(keep);
      }
    } finally {
      await nc.close();
    }
  }, 60_000);
});
