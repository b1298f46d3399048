// `policy status` reads members' heartbeats: one sealed with the key under a member's id that claims a
// process start after its own signing time (a later startedAt orders every real beat before it) must
// not hide the member's real status behind an invented version.
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { collectMemberStatus } from '../../../cluster/policy/policy-status.js';
import { BusAuth, Codec, type MemberHeartbeatV2 } from '../../../cluster/protocol/index.js';
import { startNatsServer } from '../../helpers/nats.js';

describe('policy status: a heartbeat that claims to start after it was signed', () => {
  it('is not believed: the member shows the version its real heartbeats carry', async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      const auth = new BusAuth({ key: Buffer.alloc(48, 3) });
      const codec = new Codec();
      const subject = 'ppsf.members';
      const beat = (startedAt: number, seq: number, version: number): MemberHeartbeatV2 => ({
        type: 'member.heartbeat', v: 2, id: 'm1', role: 'single', host: 'h', pid: 7, startedAt, seq, intervalMs: 1_000,
        policy: { version, digest: null, error: null, latestSeen: version, from: 'bus' },
      });
      const status = collectMemberStatus(nc, 'ppsf', auth, 1_000);
      await new Promise((r) => setTimeout(r, 100)); // subscribed
      const now = Date.now();
      nc.publish(subject, auth.seal(subject, codec.encode(beat(now + 20_000, 1, 99)))); // forged
      nc.publish(subject, auth.seal(subject, codec.encode(beat(now - 60_000, 60, 3)))); // the member itself
      await nc.flush();
      expect((await status).get('m1')).toMatchObject({ version: 3 });
    } finally {
      await nc.close();
      await server.stop();
    }
  }, 20_000);
});
