// The shared introspection cache over one in-process transport standing in for the bus:
// rendezvous ownership, one server call per key across members, prompt hand-over when
// the holder fails, is evicted mid-flight, leaves, crashes or goes silent, a missed
// heartbeat that moves nothing, a hung owner skipped but a busy one asked again, expired
// fills ignored, and the bus never failing a lookup (wall-clock steps: clock-steps.test.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { Membership } from '../../../../cluster/membership/index.js';
import { IntrospectionSync, rendezvousOwner } from '../../../../cluster/cache-sync/index.js';
import { waitFor } from '../../../helpers/wait.js';
import { FakeAs, ISSUER, keyOf, keyOwnedBy, MiniClient, silent, sleep, SyncMesh } from './sync-fixtures.js';

describe('IntrospectionSync', () => {
  const sm = new SyncMesh();
  afterEach(sm.close);
  const { mesh, member, cluster, ghost } = sm;

  it('rendezvous: same owner everywhere, spread evenly, only the leaver\'s keys move', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const keys = Array.from({ length: 4_000 }, (_, i) => keyOf(`k${i}`));
    const owners = keys.map((k) => rendezvousOwner(k, ids));
    expect(keys.map((k) => rendezvousOwner(k, [...ids].reverse()))).toEqual(owners);
    for (const id of ids) {
      const share = owners.filter((o) => o === id).length / keys.length;
      expect(share).toBeGreaterThan(0.2);
      expect(share).toBeLessThan(0.3);
    }
    const without = keys.map((k) => rendezvousOwner(k, ['a', 'b', 'd']));
    keys.forEach((_, i) => { if (owners[i] !== 'c') expect(without[i]).toBe(owners[i]); });
    expect(rendezvousOwner(keys[0]!, [])).toBeNull();
  });

  it('one server call per key across three members under concurrent lookups; then every member answers from memory', async () => {
    const as = new FakeAs();
    as.delayMs = 20;
    const ms = await cluster(3, as);
    const keys = Array.from({ length: 30 }, (_, i) => keyOf(`t${i}`));
    const all = ms.flatMap((m) => [0, 1, 2].flatMap(() => keys.map((k) => m.client.lookup(k))));
    const results = await Promise.all(all);
    expect(results.every((r) => r.active)).toBe(true);
    expect(as.calls).toBe(30);
    for (const m of ms) for (const k of keys) expect(m.client.lookup(k)).not.toBeInstanceOf(Promise);
    const sum = (name: string): number => ms.reduce((s, m) => s + (m.sync.stats()[name] ?? 0), 0);
    expect(sum('cluster_introspection_calls_total')).toBe(30);
    expect(sum('cluster_cache_fills_sent_total')).toBe(30);
    expect(sum('cluster_introspection_fallback_calls_total')).toBe(0);
  });

  it('a failed holder call tells the waiters at once: they call themselves instead of sitting out the lease', async () => {
    const as = new FakeAs();
    // a lease longer than the test may run: only being told at once lets b finish
    const [a, b] = await cluster(2, as, { leaseMs: 60_000 });
    const key = keyOwnedBy(a!.id, [a!.id, b!.id]);
    as.delayMs = 150;
    as.failNext = 1;
    const pa = Promise.resolve(a!.client.lookup(key)).then(() => 'ok', () => 'failed');
    await waitFor('the first call', () => as.calls === 1, 1_000);
    const pb = b!.client.lookup(key);
    expect(await pa).toBe('failed');
    expect((await pb).active).toBe(true);
    expect(as.calls).toBe(2);
    expect(b!.sync.stats().cluster_introspection_fallback_calls_total).toBe(1);
  });

  it('a result evicted mid-flight is not broadcast, and the lease is released so waiters ask again at once', async () => {
    const as = new FakeAs();
    const [a, b] = await cluster(2, as, { leaseMs: 60_000 }); // longer than the test may run: the release must be immediate
    const key = keyOwnedBy(a!.id, [a!.id, b!.id], 'ev');
    as.delayMs = 150;
    const pa = a!.client.lookup(key);
    await waitFor('the first call', () => as.calls === 1, 1_000);
    a!.client.evict(key); // revocation races the call
    const pb = b!.client.lookup(key);
    await pa;
    expect((await pb).active).toBe(true);
    expect(as.calls).toBe(2); // b's fresh answer (after the eviction) is then shared as usual
    expect(a!.sync.stats()).toMatchObject({ cluster_cache_fills_sent_total: 0, cluster_introspection_lease_released_total: 1 });
  });

  it('a holder that leaves mid-flight: the owner frees its lease and one waiter takes over', async () => {
    const as = new FakeAs();
    const [a, b, c] = await cluster(3, as, { leaseMs: 60_000 }); // longer than the test may run: freed on member.left or never
    const ids = [a!.id, b!.id, c!.id];
    const key = keyOwnedBy(a!.id, ids, 'leave');
    as.delayMs = 300;
    const pb = b!.client.lookup(key); // b asks a, is granted, calls
    await waitFor('b to call', () => as.calls === 1, 1_000);
    const pc = c!.client.lookup(key); // c asks a: pending behind b
    await waitFor('c to wait', () => a!.sync.stats().cluster_introspection_lease_pending_total === 1, 1_000);
    b!.sync.close();
    b!.membership.close(); // member.left: b's answer will never be broadcast
    expect((await pc).active).toBe(true);
    await pb;
    expect(as.calls).toBe(2);
    expect(a!.sync.stats().cluster_introspection_holder_failovers_total).toBe(1);
  });

  it('a silent holder (no fill, still a member) loses the lease after leaseMs', async () => {
    const as = new FakeAs();
    const [a, b] = await cluster(2, as, { leaseMs: 300 });
    const key = keyOwnedBy(a!.id, [a!.id, b!.id], 'silent');
    // A third party holds the lease and never reports.
    expect(a!.sync.stats().cluster_introspection_lease_granted_total).toBe(0);
    const reply = await b!.bus.request(b!.bus.subjects.introspectionOwner(a!.id), { type: 'introspection.lease', v: 1, key, issuer: ISSUER, member: 'ghost' }, 500);
    expect(reply).toMatchObject({ status: 'granted' });
    const t0 = Date.now();
    expect((await b!.client.lookup(key)).active).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250); // not before leaseMs
    expect(as.calls).toBe(1);
    expect(a!.sync.stats().cluster_introspection_lease_expired_total).toBe(1);
  });

  /** A member whose heartbeats the test switches on and off (a stall or a crash, never a goodbye). */
  it('a member that misses heartbeats keeps its keys and leases through the grace; back in time, nothing moved', async () => {
    const as = new FakeAs();
    const t = mesh();
    const a = member(t, 'm0', as, { departureGraceMs: 400 });
    const g = ghost(t, 'g1');
    try {
      await waitFor('membership', () => a.membership.members().length === 2, 1_000);
      const key = keyOwnedBy('g1', ['g1', 'm0'], 'flap');
      const mine = keyOwnedBy('m0', ['g1', 'm0'], 'flap');
      const reply = await a.bus.request(a.bus.subjects.introspectionOwner('m0'), { type: 'introspection.lease', v: 1, key: mine, issuer: ISSUER, member: 'g1' }, 500);
      expect(reply).toMatchObject({ status: 'granted' });
      g.beating = false;
      await waitFor('g1 to expire', () => a.membership.members().length === 1, 1_000);
      expect(a.sync.ownerOf(key)).toBe('g1'); // still within the grace
      g.beating = true;
      await waitFor('g1 to come back', () => a.membership.members().length === 2, 1_000);
      await sleep(450);
      expect(a.sync.ownerOf(key)).toBe('g1');
      expect(a.sync.stats()).toMatchObject({ cluster_introspection_leases_active: 1, cluster_introspection_holder_failovers_total: 0 });
    } finally { g.stop(); }
  });

  it('a holder that crashes (no goodbye) loses its lease after expiry plus grace, well before the lease runs out', async () => {
    const as = new FakeAs();
    const t = mesh();
    // leases longer than the test may run: only g1's departure (heartbeat expiry plus grace) can free its lease
    const a = member(t, 'm0', as, { departureGraceMs: 200, leaseMs: 60_000 });
    const b = member(t, 'm1', as, { departureGraceMs: 200, leaseMs: 60_000 });
    const g = ghost(t, 'g1');
    try {
      await waitFor('membership', () => a.membership.members().length === 3 && b.membership.members().length === 3, 1_000);
      const key = keyOwnedBy('m0', ['g1', 'm0', 'm1'], 'crash');
      const reply = await b.bus.request(b.bus.subjects.introspectionOwner('m0'), { type: 'introspection.lease', v: 1, key, issuer: ISSUER, member: 'g1' }, 500);
      expect(reply).toMatchObject({ status: 'granted' });
      const pb = b.client.lookup(key); // pending behind g1
      await waitFor('b to wait', () => a.sync.stats().cluster_introspection_lease_pending_total === 1, 1_000);
      g.stop(); // crash
      expect((await pb).active).toBe(true);
      expect(as.calls).toBe(1);
      expect(a.sync.stats().cluster_introspection_holder_failovers_total).toBe(1);
    } finally { g.stop(); }
  });

  it('a hung owner (no answer, no heartbeat) is skipped after requestTimeoutMs; the lookup still succeeds', async () => {
    const as = new FakeAs();
    const t = mesh();
    const a = member(t, 'm0', as, { requestTimeoutMs: 150 });
    const g = ghost(t, 'hung');
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const unsub = bus.subscribe(bus.subjects.introspectionOwner('hung'), () => {}); // never answers
    try {
      await waitFor('membership', () => a.membership.members().length === 2, 2_000);
      const key = keyOwnedBy('hung', ['hung', 'm0'], 'hung');
      g.beating = false; // its event loop is stuck: no heartbeats either
      expect((await a.client.lookup(key)).active).toBe(true);
      expect(as.calls).toBe(1);
      expect(a.sync.stats()).toMatchObject({ cluster_introspection_owner_failovers_total: 1, cluster_introspection_owner_slow_total: 0 });
      expect(a.sync.ownerOf(key)).toBe('m0'); // skipped while suspected
    } finally {
      unsub();
      g.stop();
    }
  });

  it('a busy owner (late answer, still beating) is asked again, not bypassed: no extra call', async () => {
    const as = new FakeAs();
    const t = mesh();
    const a = member(t, 'm0', as, { requestTimeoutMs: 150 });
    const g = ghost(t, 'busy');
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    let asked = 0;
    const expiresAt = Date.now() + 60_000;
    const unsub = bus.subscribe(bus.subjects.introspectionOwner('busy'), (m, incoming) => {
      if (m.type !== 'introspection.lease') return;
      const reply = { type: 'introspection.leased', v: 1, key: m.key, status: 'cached', active: true, claims: { sub: 'from-owner', iss: 'https://as.test' }, expiresAt, waitMs: 0 } as const;
      if (++asked === 1) setTimeout(() => bus.respond(incoming, reply), 300); // too late
      else bus.respond(incoming, reply);
    });
    try {
      await waitFor('membership', () => a.membership.members().length === 2, 2_000);
      const key = keyOwnedBy('busy', ['busy', 'm0'], 'busy');
      expect(await a.client.lookup(key)).toMatchObject({ active: true, claims: { sub: 'from-owner', iss: 'https://as.test' } });
      expect(asked).toBe(2);
      expect(as.calls).toBe(0);
      expect(a.sync.stats()).toMatchObject({ cluster_introspection_owner_slow_total: 1, cluster_introspection_owner_failovers_total: 0, cluster_introspection_remote_hits_total: 1 });
    } finally {
      unsub();
      g.stop();
    }
  });

  it('ignores an expired fill, primes a live one, and evicts everywhere', async () => {
    const as = new FakeAs();
    const [a, b] = await cluster(2, as);
    const key = keyOf('fill');
    const fill = { type: 'cache.filled', v: 1, key, issuer: ISSUER, active: true, claims: { sub: 'x', iss: 'https://as.test' }, origin: 'elsewhere' } as const;
    a!.bus.publish(a!.bus.subjects.cacheIntrospection, { ...fill, expiresAt: Date.now() - 1 });
    await waitFor('the stale fill', () => b!.sync.stats().cluster_cache_fills_ignored_total === 1, 1_000);
    expect(b!.client.cache.has(key)).toBe(false);
    a!.bus.publish(a!.bus.subjects.cacheIntrospection, { ...fill, expiresAt: Date.now() + 10_000 });
    await waitFor('the fill', () => a!.client.cache.has(key) && b!.client.cache.has(key), 1_000);
    b!.sync.evictEverywhere(key);
    expect(b!.client.cache.has(key)).toBe(false); // at once locally
    await waitFor('the eviction', () => !a!.client.cache.has(key), 1_000);
    expect(a!.sync.stats().cluster_cache_evictions_received_total).toBe(1);
    expect(as.calls).toBe(0);
  });

  it('without a connected bus every lookup calls the server itself', async () => {
    const as = new FakeAs();
    const t = mesh();
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const membership = new Membership({ bus, id: 'solo', role: 'single' });
    const sync = new IntrospectionSync({ bus, membership, memberId: 'solo', logger: silent });
    sync.start();
    await t.close(); // disconnected
    const client = new MiniClient(sync, as);
    expect((await client.lookup(keyOf('x'))).active).toBe(true);
    expect(sync.stats().cluster_introspection_fallback_calls_total).toBe(1);
    sync.close();
  });
});
