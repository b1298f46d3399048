// The audit hook (`onApplied`, written as `revocation.applied`) hears of every revocation from another
// member applied here, whichever path brought it first — the stream's consumer while live (a loaded CI
// member lost both records of audit-revocations.test.ts that way) or a catch-up after a reconnect —
// and of none of the first replay's, nor of this member's own.
import { afterEach, describe, expect, it } from 'vitest';
import { Codec, MessageBus, revocationAdded, subjects, type RevocationAdded, type RevocationRecord } from '../../../../cluster/protocol/index.js';
import { RevocationActor, RevocationStore } from '../../../../cluster/revocation/index.js';
import type { ActorMessage, ArrivalPath } from '../../../../cluster/revocation/revocation-actor-contract.js';
import { LocalTransport } from '../../../../cluster/transport/local-transport.js';

/** The actor's mailbox, as its transports and stream follower reach it (the follower has no public door). */
type Mailbox = { receive(m: ActorMessage): void };

function added(id: string, origin: string): RevocationAdded {
  const now = Date.now();
  return revocationAdded({ id, kind: 'jti', value: `jti-${id}`, issuer: null, before: null, expiresAt: Math.floor(now / 1000) + 600, reason: null, createdAt: now, origin }, now);
}

describe('the revocation audit hook', () => {
  let actor: RevocationActor | null = null;
  afterEach(async () => { await actor?.close(); actor = null; });

  function setUp(): { box: Mailbox; heard: string[]; deliver: (id: string, origin: string, via: ArrivalPath) => void } {
    actor = new RevocationActor({ store: new RevocationStore(Date.now), bus: new MessageBus(new LocalTransport(), new Codec(), subjects('pt')), mode: 'local', memberId: 'me', maxLifetimeS: 3600 });
    const heard: string[] = [];
    actor.onApplied = (r: RevocationRecord) => { heard.push(r.id); };
    const box = actor as unknown as Mailbox;
    const subject = subjects('pt').revocation('jti');
    return { box, heard, deliver: (id, origin, via) => box.receive({ type: 'revocation.received', msg: added(id, origin), via, subject, signedAt: null }) };
  }

  it('reports a stream record that beat the live copy on a live member once, and never this member\'s own', () => {
    const { heard, deliver } = setUp();
    actor!.start();
    deliver('r1', 'peer', 'replay');
    deliver('r1', 'peer', 'live');
    deliver('r2', 'peer', 'live');
    deliver('r3', 'me', 'replay');
    expect(heard).toEqual(['r1', 'r2']);
  });

  it('reports nothing of the first replay, and what a catch-up after a reconnect applied', () => {
    const { box, heard, deliver } = setUp();
    // before the first replay completes: the history from before this start
    deliver('old', 'peer', 'replay');
    actor!.start();
    box.receive({ type: 'bus.disconnected' });
    box.receive({ type: 'bus.connected' });
    deliver('missed', 'peer', 'replay');
    box.receive({ type: 'replay.complete' });
    expect(heard).toEqual(['missed']);
  });
});
