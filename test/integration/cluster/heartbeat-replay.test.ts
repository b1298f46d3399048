// A member that died must leave the others' member view (and with it the rendezvous ownership of
// introspection keys and DPoP claims) after its missed heartbeats, even while someone who can read
// and publish on the bus — but holds no bus key — replays its last authentic heartbeat, which stays
// "fresh" for cluster.auth.max_age_ms (30 s); and a member restarted under the same member_id must
// stay in the view while its previous process's captured `member.left` is replayed. Replays are
// ignored and counted. A beat sealed with a start in the future does not turn a real leave into a replay.
// The members beat every 200 ms (`cluster.heartbeat_ms`): each declares it in its beat, and a dead one
// is dropped after 3 of those periods instead of 3 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { busSection, subjectPrefix } from '../../helpers/cluster-members.js';
import { BUS_ENV, BUS_KEY, startProxy } from '../../helpers/proxy-process.js';
import { memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('membership: replayed heartbeats of a dead member', () => {
  let servers: BusServers;
  const prefix = subjectPrefix('hbr');
  /** Every member's heartbeat period, ms (`cluster.heartbeat_ms`). */
  const PERIOD_MS = 200;
  const section = (id: string): Record<string, unknown> => busSection(servers.nats.url, prefix, { member_id: id, heartbeat_ms: PERIOD_MS });

  beforeAll(async () => { servers = await startBusServers(); }, 60_000);

  afterAll(async () => { await servers?.stop(); });

  it('a SIGKILLed member leaves the view although its captured heartbeat is replayed every 250 ms', async () => {
    const { nats, as, echo, started } = servers;
    const [a, b] = await Promise.all(['hbr-dead', 'hbr-live'].map((id) => startProxy(memberConfig(as, echo.url, section(id)), { env: BUS_ENV })));
    started.push(a!, b!);
    await waitFor('both members see each other', async () => (await metric(b!, 'portcullis_cluster_members')) === 2, 15_000);

    // the attacker: proxy-level NATS access, no bus key; keeps the dead member's last heartbeat
    const nc = await connect({ servers: [nats.url] });
    let last: Uint8Array | null = null;
    const sub = nc.subscribe(`${prefix}.members`);
    void (async () => { for await (const m of sub) if (Buffer.from(m.data).includes(Buffer.from('hbr-dead'))) last = m.data; })();
    await waitFor('a heartbeat of the member captured', async () => last !== null, 5_000);
    // the configured period is the one it beats at and declares to its peers (before: fixed at 1 s, the key refused)
    const opened = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).open(`${prefix}.members`, last!, false);
    const beat = opened.ok ? new Codec().decode(opened.payload) : null;
    expect(beat?.type === 'member.heartbeat' ? beat.intervalMs : beat).toBe(PERIOD_MS);
    await a!.stop('SIGKILL');
    const replay = setInterval(() => { if (last !== null) nc.publish(`${prefix}.members`, last); }, 250);
    try {
      // 3 missed heartbeats (600 ms) drop it; a replayed one would keep it for up to 30 s
      await waitFor('the dead member dropped from the view', async () => (await metric(b!, 'portcullis_cluster_members')) === 1, 15_000);
      expect(await metric(b!, 'portcullis_cluster_heartbeats_replayed_total')).toBeGreaterThan(0);
      expect(b!.proc.exitCode).toBeNull();
    } finally {
      clearInterval(replay);
      await nc.close();
    }
  }, 90_000);

  it('a member restarted under the same member_id stays in the view while its previous process\'s goodbye is replayed', async () => {
    const { nats, as, echo, started } = servers;
    const cluster = section('hbr-again');
    const b = started[1]!;
    const nc = await connect({ servers: [nats.url] });
    const seen: Uint8Array[] = [];
    const sub = nc.subscribe(`${prefix}.members`);
    void (async () => { for await (const m of sub) if (Buffer.from(m.data).includes(Buffer.from('hbr-again'))) seen.push(m.data); })();
    const first = await startProxy(memberConfig(as, echo.url, cluster), { env: BUS_ENV });
    await waitFor('the member in the view', async () => (await metric(b, 'portcullis_cluster_members')) === 2, 15_000);
    await first.stop(); // SIGTERM: says member.left
    await waitFor('its goodbye heard', async () => (await metric(b, 'portcullis_cluster_members')) === 1, 15_000);
    const goodbye = seen[seen.length - 1]!; // the last message of the first process: member.left
    const again = await startProxy(memberConfig(as, echo.url, cluster), { env: BUS_ENV });
    started.push(again);
    await waitFor('the restarted member in the view', async () => (await metric(b, 'portcullis_cluster_members')) === 2, 15_000);
    // b counted the first case's replays already: this case's must add to them
    const replayedBefore = await metric(b, 'portcullis_cluster_heartbeats_replayed_total');
    const joinedBefore = await metric(b, 'portcullis_cluster_members_joined_total');
    const replay = setInterval(() => nc.publish(`${prefix}.members`, goodbye), 50);
    try {
      // a window of 10 periods (over 3 expiries): a goodbye taken would drop the member until its next beat — seen
      // in a sample, and as a join again when it beats
      const samples: number[] = [];
      for (let i = 0; i < 20; i++) { await new Promise((r) => setTimeout(r, PERIOD_MS / 2)); samples.push(await metric(b, 'portcullis_cluster_members')); }
      expect(samples.every((n) => n === 2), `members seen at the live member: ${samples.join(',')}`).toBe(true);
      expect(await metric(b, 'portcullis_cluster_members_joined_total'), 'never dropped and joined again').toBe(joinedBefore);
      expect(await metric(b, 'portcullis_cluster_heartbeats_replayed_total'), 'the replayed goodbye counted').toBeGreaterThan(replayedBefore);
    } finally {
      clearInterval(replay);
      await nc.close();
    }
  }, 90_000);

  it('a member\'s real goodbye is honoured after a beat sealed under its id with a start in the future (regression)', async () => {
    const { nats, as, echo, started } = servers;
    const b = started[1]!;
    const before = await metric(b, 'portcullis_cluster_members');
    const leaving = await startProxy(memberConfig(as, echo.url, section('hbr-leaves')), { env: BUS_ENV });
    started.push(leaving);
    await waitFor('the member in the view', async () => (await metric(b, 'portcullis_cluster_members')) === before + 1, 15_000);
    // a key holder's beat under its id, signed 20 s ahead (within max_age_ms, 30 s) by a "process" started then,
    // beating once a minute: before, the member's real goodbye (signed now) looked like a replay from before
    // that start, and the member stayed in the view until the forged beat's 3 periods ran out (30 s: a period is believed up to 10 s)
    const subject = `${prefix}.members`;
    const ahead = Date.now() + 20_000;
    const forged = new Codec().encode({ type: 'member.heartbeat', v: 2, id: 'hbr-leaves', role: 'single', host: 'elsewhere', pid: 1, startedAt: ahead, seq: 1, intervalMs: 60_000, policy: null });
    const nc = await connect({ servers: [nats.url] });
    try {
      const replayed = await metric(b, 'portcullis_cluster_heartbeats_replayed_total');
      nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, forged, null, ahead));
      await nc.flush();
      // taken: the member's own next beat (older start, signed earlier) now counts as a replay there
      await waitFor('the forged beat taken', async () => (await metric(b, 'portcullis_cluster_heartbeats_replayed_total')) > replayed, 10_000);
      await leaving.stop(); // SIGTERM: says member.left
      await waitFor('its goodbye honoured', async () => (await metric(b, 'portcullis_cluster_members')) === before, 10_000);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
