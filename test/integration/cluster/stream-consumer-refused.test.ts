// A revocation consumer the server refuses to create (here: the stream's max_consumers reached; after a
// leaderless window: no cluster leader yet) is refused to the follower at once, which retries it itself,
// instead of nats.js retrying it in the background for minutes; a stopped consumer leaves the stream, also
// one nats.js was recreating when it was stopped.
import { describe, expect, it } from 'vitest';
import { AckPolicy } from 'nats';
import { RevocationStream } from '../../../cluster/revocation/index.js';
import { subjects } from '../../../cluster/protocol/index.js';
import { natsWithClient } from '../../helpers/nats-client.js';
import { waitFor } from '../../helpers/wait.js';

describe('a refused revocation consumer', () => {
  const stand = natsWithClient();

  it('is refused to the caller now, not retried in the background; once it can be created it delivers, and stop() deletes it', async () => {
    const s = subjects(`pcr${Math.random().toString(36).slice(2, 8)}`);
    const jsm = await stand.nc.jetstreamManager();
    const stream = new RevocationStream(stand.nc, { subjects: s, maxAgeMs: 3_600_000, replicas: 1 });
    // made by hand with room for one consumer, taken by someone else's
    await jsm.streams.add({ name: stream.name, subjects: [s.revocationsAll], max_consumers: 1 });
    await stream.ensure();
    for (let i = 1; i <= 3; i++) await stream.publish(s.revocation('jti'), new Uint8Array([i]), `id-${i}`);
    await jsm.consumers.add(stream.name, { durable_name: 'hog', ack_policy: AckPolicy.None });

    // nats.js 2.29 alone keeps this pending for its 30 background tries, 15–45 s apart
    await expect(stream.consume(1, () => undefined)).rejects.toThrow(/maximum consumers/i);

    await jsm.consumers.delete(stream.name, 'hog');
    const seen: number[] = [];
    const handle = await stream.consume(1, (m) => seen.push(m.seq));
    await waitFor('the three stored revocations', () => seen.length === 3, 10_000);
    expect(seen).toEqual([1, 2, 3]);
    // no consumer left behind by the refused try either
    expect((await jsm.streams.info(stream.name)).state.consumer_count).toBe(1);
    handle.stop();
    await waitFor('the stopped consumer to leave the stream', async () => (await jsm.streams.info(stream.name)).state.consumer_count === 0, 10_000);
  }, 20_000);

  it('a consumer stopped while nats.js recreates it (its server lost it) leaves nothing on the stream once the recreation succeeds', async () => {
    const s = subjects(`pcz${Math.random().toString(36).slice(2, 8)}`);
    const jsm = await stand.nc.jetstreamManager();
    const stream = new RevocationStream(stand.nc, { subjects: s, maxAgeMs: 3_600_000, replicas: 1 });
    await jsm.streams.add({ name: stream.name, subjects: [s.revocationsAll], max_consumers: 1 });
    await stream.ensure();
    const seen: number[] = [];
    // 2 s pulls: heartbeats missed after ~2 s, recreation tried every 1–3 s (nats.js: 15–45 s at its default)
    const handle = await stream.consume(1, (m) => seen.push(m.seq), { pullExpiresMs: 2_000 });
    await waitFor('the consumer', async () => (await jsm.streams.info(stream.name)).state.consumer_count === 1, 5_000);
    // the server loses it, and refuses a new one for now (as without a cluster leader)
    for await (const c of jsm.consumers.list(stream.name)) await jsm.consumers.delete(stream.name, c.name);
    await jsm.consumers.add(stream.name, { durable_name: 'hog', ack_policy: AckPolicy.None });
    await new Promise((r) => setTimeout(r, 5_000)); // its heartbeats missed: nats.js recreating it, refused
    handle.stop();
    await jsm.consumers.delete(stream.name, 'hog');
    await new Promise((r) => setTimeout(r, 3_500)); // past its next try (1–3 s): it succeeds now
    await waitFor('no consumer left on the stream', async () => (await jsm.streams.info(stream.name)).state.consumer_count === 0, 5_000);
    await stream.publish(s.revocation('jti'), new Uint8Array([1]), 'after-stop');
    await new Promise((r) => setTimeout(r, 500));
    expect(seen, 'nothing delivered after stop()').toEqual([]);
  }, 25_000);
});
