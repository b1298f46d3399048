// The revocation stream keeps every revocation for its max age: someone with NATS credentials who
// sets a message, byte or per-subject limit on it (JetStream then drops the oldest revocations,
// and a member started later cannot replay them) has that limit taken off again by the next
// member that checks the stream (at its start, every reconnect and every 3 s while connected).
import { describe, expect, it } from 'vitest';
import { RevocationStream } from '../../../cluster/revocation/index.js';
import { subjects } from '../../../cluster/protocol/index.js';
import { natsWithClient } from '../../helpers/nats-client.js';

describe('revocation stream limits', () => {
  const stand = natsWithClient();

  it('a member checking the stream removes max_msgs / max_bytes / max_msgs_per_subject an outsider set, so old revocations stay', async () => {
    const s = subjects(`psl${Math.random().toString(36).slice(2, 8)}`);
    const stream = new RevocationStream(stand.nc, { subjects: s, maxAgeMs: 3_600_000, replicas: 1 });
    await stream.ensure();
    for (let i = 0; i < 5; i++) await stream.publish(s.revocation('jti'), new Uint8Array([i]), `id-${i}`);
    // the outsider: limits that make JetStream drop all but the newest revocation
    const jsm = await stand.nc.jetstreamManager();
    const c = (await jsm.streams.info(stream.name)).config;
    await jsm.streams.update(stream.name, { ...c, max_msgs: 1, max_bytes: 4096, max_msgs_per_subject: 1 });
    // a member (re)starting checks the stream
    await stream.ensure();
    const after = (await jsm.streams.info(stream.name)).config;
    expect({ max_msgs: after.max_msgs, max_bytes: after.max_bytes, max_msgs_per_subject: after.max_msgs_per_subject }).toEqual({ max_msgs: -1, max_bytes: -1, max_msgs_per_subject: -1 });
    for (let i = 5; i < 10; i++) await stream.publish(s.revocation('jti'), new Uint8Array([i]), `id-${i}`);
    const pos = await stream.position();
    expect(pos.lastSeq - pos.firstSeq + 1, 'revocations published after the check are all kept').toBeGreaterThanOrEqual(5);
    expect(pos.messages).toBe(pos.lastSeq - pos.firstSeq + 1);
  }, 30_000);
});
