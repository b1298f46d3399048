// Every revocation another member made and this one applied is counted once in
// `revocations_first_*_total`, by the path that won — including the stream's consumer when it
// beats the live paths on a live member (a loaded member did: CI saw 4 of 5 counted).
import { afterEach, describe, expect, it } from 'vitest';
import { Codec, MessageBus, revocationAdded, subjects, type RevocationAdded } from '../../../../cluster/protocol/index.js';
import { RevocationActor, RevocationStore } from '../../../../cluster/revocation/index.js';
import type { ActorMessage } from '../../../../cluster/revocation/revocation-actor-contract.js';
import { LocalTransport } from '../../../../cluster/transport/local-transport.js';

/** The actor's mailbox, as its transports reach it (the stream follower has no public door). */
type Mailbox = { receive(m: ActorMessage): void };

function added(id: string, origin: string): RevocationAdded {
  const now = Date.now();
  return revocationAdded({ id, kind: 'jti', value: `jti-${id}`, issuer: null, before: null, expiresAt: Math.floor(now / 1000) + 600, reason: null, createdAt: now, origin }, now);
}

describe('first arrivals, by path', () => {
  let actor: RevocationActor | null = null;
  afterEach(async () => { await actor?.close(); actor = null; });

  it('counts a stream record that came first while live as path stream; its live copy is a duplicate; own records are not arrivals', () => {
    const store = new RevocationStore(Date.now);
    actor = new RevocationActor({ store, bus: new MessageBus(new LocalTransport(), new Codec(), subjects('pt')), mode: 'local', memberId: 'me', maxLifetimeS: 3600 });
    actor.start();
    const box = actor as unknown as Mailbox;
    const subject = subjects('pt').revocation('jti');
    const first = added('r1', 'peer');
    box.receive({ type: 'revocation.received', msg: first, via: 'replay', subject, signedAt: null });
    box.receive({ type: 'revocation.received', msg: first, via: 'live', subject, signedAt: null });
    box.receive({ type: 'revocation.received', msg: added('r2', 'peer'), via: 'live', subject, signedAt: null });
    box.receive({ type: 'revocation.received', msg: added('r3', 'me'), via: 'replay', subject, signedAt: null });
    const s = actor.stats();
    expect(s.revocations_applied_jti).toBe(3);
    expect(s.revocations_first_stream_total).toBe(1);
    expect(s.revocations_first_live_total).toBe(1);
    expect(s.revocations_arrived_live_total).toBe(2);
    expect(s.revocation_propagation_ms_count).toBe(2);
  });
});
