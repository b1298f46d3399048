// The shared introspection cache over one in-process transport standing in for the bus:
// rendezvous ownership, one server call per key across members, prompt hand-over when
// the holder fails, is evicted mid-flight, leaves, crashes or goes silent, a missed
// heartbeat that moves nothing, a hung owner skipped but a busy one asked again, expired
// fills ignored, and the bus never failing a lookup.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { LocalTransport } from '../../../../cluster/transport/index.js';
import { Membership } from '../../../../cluster/membership/index.js';
import { IntrospectionSync, rendezvousOwner, type IntrospectionSyncOptions } from '../../../../cluster/cache-sync/index.js';
import type { IntrospectionResult } from '../../../../node/contracts/index.js';
import { waitFor } from '../../../helpers/wait.js';

const silent = pino({ level: 'silent' });
const ISSUER = 'demo';
const keyOf = (s: string): string => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** A counting authorization server: `delayMs` per call, `failNext` makes calls fail. */
class FakeAs {
  calls = 0;
  delayMs = 0;
  failNext = 0;
  async call(key: string): Promise<IntrospectionResult> {
    this.calls++;
    const fail = this.failNext > 0;
    if (fail) this.failNext--;
    await sleep(this.delayMs);
    if (fail) throw Object.assign(new Error('as down'), { code: 'AS_DOWN' });
    return { active: true, claims: { sub: key.slice(0, 8) }, expiresAt: Date.now() + 60_000 };
  }
}

/** The IntrospectionClient contract in miniature: local cache, per-key single-flight, coordinate, onResult unless evicted mid-flight. */
class MiniClient {
  readonly cache = new Map<string, IntrospectionResult>();
  private readonly inflight = new Map<string, { p: Promise<IntrospectionResult>; evicted: boolean }>();
  constructor(private readonly sync: IntrospectionSync, private readonly as: FakeAs) {
    sync.attach(ISSUER, this);
  }
  lookup(key: string): IntrospectionResult | Promise<IntrospectionResult> {
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAt > Date.now()) return hit;
    const f = this.inflight.get(key);
    if (f !== undefined) return f.p;
    const flight = { p: null as unknown as Promise<IntrospectionResult>, evicted: false };
    flight.p = (async () => {
      try {
        const r = await this.sync.coordinator(ISSUER)(key, () => this.as.call(key));
        if (!flight.evicted) { this.cache.set(key, r); this.sync.publisher(ISSUER)(key, r); }
        return r;
      } finally { this.inflight.delete(key); }
    })();
    this.inflight.set(key, flight);
    return flight.p;
  }
  prime(key: string, r: IntrospectionResult): boolean {
    if (r.expiresAt <= Date.now()) return false;
    this.cache.set(key, r);
    return true;
  }
  evict(key: string): boolean {
    const f = this.inflight.get(key);
    if (f !== undefined) f.evicted = true;
    return this.cache.delete(key);
  }
}

interface Member { id: string; bus: MessageBus; membership: Membership; sync: IntrospectionSync; client: MiniClient }

describe('IntrospectionSync', () => {
  const transports: LocalTransport[] = [];
  const members: Member[] = [];
  afterEach(async () => {
    for (const m of members.splice(0)) { m.sync.close(); m.membership.close(); }
    for (const t of transports.splice(0)) await t.close();
  });

  function mesh(): LocalTransport {
    const t = new LocalTransport();
    transports.push(t);
    return t;
  }

  function member(t: LocalTransport, id: string, as: FakeAs, opts: Partial<IntrospectionSyncOptions> = {}): Member {
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const membership = new Membership({ bus, id, role: 'single', intervalMs: 50 });
    const sync = new IntrospectionSync({ bus, membership, memberId: id, logger: silent, ...opts });
    sync.start();
    membership.start();
    const m = { id, bus, membership, sync, client: new MiniClient(sync, as) };
    members.push(m);
    return m;
  }

  async function cluster(n: number, as: FakeAs, opts: Partial<IntrospectionSyncOptions> = {}): Promise<Member[]> {
    const t = mesh();
    const ms = Array.from({ length: n }, (_, i) => member(t, `m${i}`, as, opts));
    await waitFor('membership', () => ms.every((m) => m.membership.members().length === n), 2_000);
    return ms;
  }

  /** A key owned by `owner` among `ids`. */
  function keyOwnedBy(owner: string, ids: readonly string[], tag = ''): string {
    for (let i = 0; ; i++) {
      const k = keyOf(`${tag}token-${i}`);
      if (rendezvousOwner(k, ids) === owner) return k;
    }
  }

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

  /** A member whose heartbeats the test switches on and off (a stall or a crash, never a goodbye). */
  function ghost(t: LocalTransport, id: string): { beating: boolean; stop(): void } {
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    let seq = 0;
    const g = { beating: true, stop: () => clearInterval(timer) };
    const beat = (): void => {
      if (g.beating) bus.publish(bus.subjects.members, { type: 'member.heartbeat', v: 1, id, role: 'single', host: 'h', pid: 1, startedAt: 1, seq: ++seq, intervalMs: 50 });
    };
    const timer = setInterval(beat, 50);
    beat();
    return g;
  }

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
      const reply = { type: 'introspection.leased', v: 1, key: m.key, status: 'cached', active: true, claims: { sub: 'from-owner' }, expiresAt, waitMs: 0 } as const;
      if (++asked === 1) setTimeout(() => bus.respond(incoming, reply), 300); // too late
      else bus.respond(incoming, reply);
    });
    try {
      await waitFor('membership', () => a.membership.members().length === 2, 2_000);
      const key = keyOwnedBy('busy', ['busy', 'm0'], 'busy');
      expect(await a.client.lookup(key)).toMatchObject({ active: true, claims: { sub: 'from-owner' } });
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
    const fill = { type: 'cache.filled', v: 1, key, issuer: ISSUER, active: true, claims: { sub: 'x' }, origin: 'elsewhere' } as const;
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
