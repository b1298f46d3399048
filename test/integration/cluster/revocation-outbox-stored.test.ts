// RevocationOutbox.stored: the wait `portcullis revoke` uses when its first publish got no answer —
// resolved by the outbox's own retry once the stream answers; the stream holds one entry under the
// revocation's id, though it also captured the live copy the first failure sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusAuth, Codec, MessageBus, revocationAdded, subjects } from '../../../cluster/protocol/index.js';
import { buildRevocation, RevocationOutbox, RevocationStream } from '../../../cluster/revocation/index.js';
import { nats, NatsTransport } from '../../../cluster/transport/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { prefix } from './cluster-fixtures.js';

describe('RevocationOutbox.stored', () => {
  let server: NatsServer & { stop(): Promise<void> };
  let transport: NatsTransport;
  beforeAll(async () => {
    server = await startNatsServer();
    transport = new NatsTransport({ connection: { servers: [server.url] } });
    transport.start();
    await transport.whenConnected(5_000);
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  it('resolves once the stream has it, one entry under the revocation id (live copy and retry alike); an id not pending resolves at once', async () => {
    const bus = new MessageBus(transport, new Codec(), subjects(prefix('obx')), null);
    const stream = new RevocationStream(transport.connection()!, { subjects: bus.subjects, maxAgeMs: 3_600_000, replicas: 1 });
    await stream.ensure();
    // the first attempt finds no stream (as with no leader answering); the retries a second later do
    let reachable = false;
    const outbox = new RevocationOutbox(bus, () => (reachable ? stream : null), 2_000);
    try {
      const built = buildRevocation({ kind: 'jti', value: 'stored-later' }, { nowMs: Date.now(), maxLifetimeS: 3_600, origin: 'test' });
      if (!built.ok) throw new Error(built.errors.join('; '));
      const msg = revocationAdded(built.record, Date.now());
      expect(await outbox.publish(msg)).toMatchObject({ persisted: false });
      const later = outbox.stored(msg.id);
      reachable = true;
      const o = await later;
      // the stream took the live copy the first failure sent (its subject is the live one) and the retry: one entry
      expect(o).toMatchObject({ persisted: true, seq: 1 });
      expect(outbox.size).toBe(0);
      expect(await outbox.stored(msg.id)).toMatchObject({ persisted: false, error: 'not pending' });
      const jsm = await transport.connection()!.jetstreamManager();
      expect((await jsm.streams.info(stream.name)).state.messages).toBe(1);
      const m = await jsm.streams.getMessage(stream.name, { seq: 1 });
      expect(m.header?.get('Nats-Msg-Id')).toBe(msg.id);
    } finally {
      outbox.close();
    }
  });

  it('a forged copy stored first under the revocation id (bus credentials, no bus key) does not count as stored: the revocation is stored again under a fresh id', async () => {
    const bus = new MessageBus(transport, new Codec(), subjects(prefix('obf')), new BusAuth({ key: new Uint8Array(32).fill(7) }));
    const stream = new RevocationStream(transport.connection()!, { subjects: bus.subjects, maxAgeMs: 3_600_000, replicas: 1 });
    await stream.ensure();
    const outbox = new RevocationOutbox(bus, () => stream, 2_000);
    try {
      const built = buildRevocation({ kind: 'sid', value: 'logged-out' }, { nowMs: Date.now(), maxLifetimeS: 3_600, origin: 'test', id: 'bcl-guessable' });
      if (!built.ok) throw new Error(built.errors.join('; '));
      const msg = revocationAdded(built.record, Date.now());
      // the attacker's copy, sealed with another key, reaches the stream first under the same Nats-Msg-Id
      const forger = new MessageBus(transport, new Codec(), bus.subjects, new BusAuth({ key: new Uint8Array(32).fill(9) }));
      const h = nats().headers();
      h.set('Nats-Msg-Id', msg.id);
      await transport.connection()!.jetstream().publish(bus.subjects.revocation('sid'), forger.seal(bus.subjects.revocation('sid'), msg), { headers: h });
      const o = await outbox.publish(msg);
      expect(o).toMatchObject({ persisted: true, seq: 2 });
      // what a member replaying the stream gets: an authentic copy of the revocation
      const stored = await stream.get(2);
      expect(stored && bus.openStored(stored.subject, stored.data)?.msg).toMatchObject({ type: 'revocation.added', id: msg.id, kind: 'sid', value: 'logged-out' });
    } finally {
      outbox.close();
    }
  });
});
