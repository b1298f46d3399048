// How long a member has been behind (what cluster.fail_closed_after_ms bounds, /readyz's behind_ms) when
// the wall clock is stepped back during the outage: the time still counts, so the member still closes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { RevocationActor, RevocationStore } from '../../../../cluster/revocation/index.js';
import type { ActorMessage } from '../../../../cluster/revocation/revocation-actor-contract.js';
import { LocalTransport } from '../../../../cluster/transport/local-transport.js';

/** The actor's mailbox, as its transports reach it. */
type Mailbox = { receive(m: ActorMessage): void };

const HOUR_MS = 3_600_000;
/** Monotonic time the outage lasts in each case, ms: well past a fail_closed_after_ms of 5 s. */
const OUTAGE_MS = 8_000;

/** The wall clock stepped back an hour (an NTP step) while OUTAGE_MS pass on the monotonic clock. */
function stepBackDuringOutage(): void {
  const wall = Date.now.bind(Date);
  const mono = performance.now.bind(performance);
  vi.spyOn(Date, 'now').mockImplementation(() => wall() - HOUR_MS);
  vi.spyOn(performance, 'now').mockImplementation(() => mono() + OUTAGE_MS);
}

describe('behind time under a wall clock stepped back', () => {
  let actor: RevocationActor | null = null;
  afterEach(async () => { vi.restoreAllMocks(); await actor?.close(); actor = null; });

  /** A `--workers` worker, live after its primary's sync. */
  function liveWorker(): Mailbox {
    actor = new RevocationActor({ store: new RevocationStore(Date.now), bus: new MessageBus(new LocalTransport(), new Codec(), subjects('pt')), mode: 'ipc-worker', memberId: 'w1', maxLifetimeS: 3600, fromPrimary: true });
    actor.start();
    const box = actor as unknown as Mailbox;
    box.receive({ type: 'primary.sync', complete: true });
    expect(actor.behindMs()).toBe(0);
    return box;
  }

  it('a member that lost its bus is behind by the outage, not by the outage less the step', () => {
    const box = liveWorker();
    box.receive({ type: 'bus.disconnected' });
    stepBackDuringOutage();
    // before: about minus one hour — the gate kept serving past fail_closed_after_ms for the hour
    expect(actor!.behindMs()).toBeGreaterThanOrEqual(OUTAGE_MS);
  });

  it('a live member whose stream stopped answering is behind from its last answer, step or not', () => {
    const box = liveWorker();
    box.receive({ type: 'stream.unreachable', sinceMs: Date.now() });
    stepBackDuringOutage();
    expect(actor!.behindMs()).toBeGreaterThanOrEqual(OUTAGE_MS);
  });

  it('a wall clock stepped forward still counts (fails closed sooner, never later)', () => {
    const box = liveWorker();
    box.receive({ type: 'bus.disconnected' });
    const wall = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => wall() + HOUR_MS);
    expect(actor!.behindMs()).toBeGreaterThanOrEqual(HOUR_MS);
    // the snapshot's "as of" stays a wall time (it crosses restarts)
    expect(actor!.caughtUpAt()).toBeLessThanOrEqual(wall());
  });
});
