// A revocation consumer the server refuses to create (here: the stream's max_consumers reached; after a
// leaderless window: no cluster leader yet) is refused to the follower at once, which retries it itself,
// instead of nats.js retrying it in the background for minutes; a stopped consumer leaves the stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { RevocationStream } from '../../../cluster/revocation/index.js';
import { subjects } from '../../../cluster/protocol/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { waitFor } from '../../helpers/wait.js';

describe('a refused revocation consumer', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: [nats.url] });
  }, 30_000);

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('is refused to the caller now, not retried in the background; once it can be created it delivers, and stop() deletes it', async () => {
    const s = subjects(`pcr${Math.random().toString(36).slice(2, 8)}`);
    const jsm = await nc.jetstreamManager();
    const stream = new RevocationStream(nc, { subjects: s, maxAgeMs: 3_600_000, replicas: 1 });
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
});
