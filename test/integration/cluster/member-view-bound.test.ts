// Someone holding the bus key (any member's environment) announces invented member ids on `<p>.members`,
// each a fresh authentic heartbeat. A member's view must stay bounded (MAX_VIEW_MEMBERS): ids past the
// bound are refused and counted, a peer already in the view stays, and the member keeps serving.
// Before, the view took every id — 6 000 of them held a member's event loop ~14 s on the test machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { MAX_VIEW_MEMBERS } from '../../../cluster/membership/index.js';
import { busSection, subjectPrefix } from '../../helpers/cluster-members.js';
import { BUS_ENV, BUS_KEY, startProxy } from '../../helpers/proxy-process.js';
import { call, memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('membership: invented member ids announced with the bus key', () => {
  let servers: BusServers;
  const prefix = subjectPrefix('mvb');

  beforeAll(async () => { servers = await startBusServers(); }, 60_000);
  afterAll(async () => { await servers?.stop(); });

  it('the view stops at its bound; ids past it are refused and counted; a peer already in the view stays; requests are served', async () => {
    const { nats, as, echo, started } = servers;
    const [a, b] = await Promise.all(['mvb-a', 'mvb-b'].map((id) => startProxy(memberConfig(as, echo.url, busSection(nats.url, prefix, { member_id: id })), { env: BUS_ENV })));
    started.push(a!, b!);
    await waitFor('both members see each other', async () => (await metric(a!, 'portcullis_cluster_members')) === 2, 15_000);

    const nc = await connect({ servers: [nats.url] });
    const auth = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
    const codec = new Codec();
    const subject = `${prefix}.members`;
    const invented = MAX_VIEW_MEMBERS + 500;
    try {
      for (let i = 0; i < invented; i++) {
        // the longest believed period (10 s): each invented id stays 30 s without another beat
        const beat = { type: 'member.heartbeat', v: 2, id: `invented-${i}`, role: 'single', host: 'nowhere', pid: 1, startedAt: Date.now() - 1_000, seq: 1, intervalMs: 10_000, policy: null } as const;
        nc.publish(subject, auth.seal(subject, codec.encode(beat)));
      }
      await nc.flush();
      const judged = async (): Promise<number> => (await metric(a!, 'portcullis_cluster_members_joined_total')) + (await metric(a!, 'portcullis_cluster_members_refused_total'));
      await waitFor('every invented heartbeat judged at a', async () => (await judged()) >= invented + 1, 60_000);
      // a: itself and b, then invented ids up to the bound
      expect(await metric(a!, 'portcullis_cluster_members')).toBe(MAX_VIEW_MEMBERS + 1);
      expect(await metric(a!, 'portcullis_cluster_members_refused_total')).toBeGreaterThanOrEqual(invented - (MAX_VIEW_MEMBERS - 1));
      // b was in the view before: its next beats keep it there
      await new Promise((r) => setTimeout(r, 3_500));
      expect(await metric(a!, 'portcullis_cluster_members_expired_total')).toBe(0);
      expect((await call(a!, await as.issueJwt({ sub: 'mvb' }))).status).toBe(200);
      expect(a!.proc.exitCode).toBeNull();
    } finally {
      await nc.close();
    }
  }, 120_000);
});
