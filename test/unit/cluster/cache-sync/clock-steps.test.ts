// The shared introspection cache across a wall clock stepped (NTP): leases and waits, suspicions of an owner that
// did not answer, the grace of a member gone without a goodbye, and the memory of fills sent all run on the monotonic clock.
import { afterEach, describe, expect, it } from 'vitest';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { waitFor } from '../../../helpers/wait.js';
import { FakeAs, ISSUER, keyOwnedBy, SyncMesh } from './sync-fixtures.js';

describe('IntrospectionSync across a wall-clock step', () => {
  const sm = new SyncMesh();
  afterEach(sm.close);
  const { mesh, member, cluster, ghost } = sm;

  it('a wall clock stepped back an hour while a member waits on a silent holder\'s lease ends the wait after the lease, not the hour (regression)', async () => {
    const as = new FakeAs();
    const wall = { offset: 0 };
    const [a, b] = await cluster(2, as, { leaseMs: 300, now: () => Date.now() + wall.offset });
    const key = keyOwnedBy(a!.id, [a!.id, b!.id], 'stepped');
    const reply = await b!.bus.request(b!.bus.subjects.introspectionOwner(a!.id), { type: 'introspection.lease', v: 1, key, issuer: ISSUER, member: 'ghost' }, 500);
    expect(reply).toMatchObject({ status: 'granted' });
    let answered = false;
    const lookup = Promise.resolve(b!.client.lookup(key)).then((r) => { answered = true; return r; });
    await waitFor('b waits on the lease', () => b!.sync.stats().cluster_introspection_lease_waits_total >= 1);
    // NTP steps the clock back an hour: before, the wait's deadline and the owner's lease were wall-clock instants —
    // the lookup (and every request for that token) hung for the hour instead of calling the server after the lease
    wall.offset = -3_600_000;
    await waitFor('the lookup after the lease ran out', () => answered, 5_000);
    expect((await lookup).active).toBe(true);
    expect(as.calls).toBe(1);
    expect(a!.sync.stats().cluster_introspection_lease_expired_total).toBe(1);
  });

  it('a wall clock stepped back ends neither a suspicion nor a departure grace late: the owner is asked again, a dead one\'s keys move (regression)', async () => {
    const as = new FakeAs();
    const t = mesh();
    const wall = { offset: 0 };
    const a = member(t, 'm0', as, { requestTimeoutMs: 150, suspectMs: 300, departureGraceMs: 300, now: () => Date.now() + wall.offset });
    const hung = ghost(t, 'hung');
    const dead = ghost(t, 'dead');
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const unsub = bus.subscribe(bus.subjects.introspectionOwner('hung'), () => {}); // never answers
    try {
      await waitFor('membership', () => a.membership.members().length === 3, 2_000);
      const key = keyOwnedBy('hung', ['dead', 'hung', 'm0'], 'step');
      const deadKey = keyOwnedBy('dead', ['dead', 'hung', 'm0'], 'step');
      hung.beating = false;
      expect((await a.client.lookup(key)).active).toBe(true); // 'hung' suspected
      hung.beating = true;
      dead.stop(); // crashes: no goodbye
      await waitFor('dead out of the view', () => !a.membership.members().includes('dead'), 2_000);
      // NTP steps the wall clock back an hour: before, 'hung' stayed skipped and 'dead' kept its keys for the hour
      // (every lookup of them asking a dead owner and waiting out the request timeout)
      wall.offset = -3_600_000;
      await waitFor('the suspicion over', () => a.sync.ownerOf(key) === 'hung', 3_000);
      await waitFor('the grace over', () => a.sync.ownerOf(deadKey) !== 'dead', 3_000);
    } finally {
      unsub();
      hung.stop();
      dead.stop();
    }
  });

  it('a subject drop from a peer after our fill of its token evicts it everywhere, even past a wall clock stepped forward (regression)', async () => {
    const as = new FakeAs();
    const wall = { offset: 0 };
    const [a, b] = await cluster(2, as, { now: () => Date.now() + wall.offset });
    const key = keyOwnedBy(a!.id, [a!.id, b!.id], 'overtaken');
    const r = await a!.client.lookup(key); // a calls and sends the fill
    expect(a!.sync.stats().cluster_cache_fills_sent_total).toBe(1);
    // NTP steps a's wall clock forward 20 min: before, its memory of the fill (11 min) ran out at once, and a peer's drop
    // that the fill had overtaken no longer evicted the token everywhere — members that dropped first kept the old answer
    wall.offset = 20 * 60_000;
    b!.sync.dropSubjectEverywhere(null, String(r.claims!.sub));
    await waitFor('a evicts the token everywhere', () => a!.sync.stats().cluster_cache_evictions_sent_total === 1, 2_000);
  });
});
