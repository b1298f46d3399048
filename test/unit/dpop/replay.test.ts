// The DPoP replay check: the bounded local cache (check-and-set, expiry, the eviction floor
// that keeps a full cache from re-opening a replay), the guard's owner consultation with its
// local fallback, and two members sharing keys over a real MessageBus (in-process transport).
import { describe, expect, it, vi } from 'vitest';
import { Packr } from 'msgpackr';
import { pino } from 'pino';
import { Codec, LocalTransport, MessageBus, rendezvousOwner, subjects, type Transport } from '../../../cluster/index.js';
import { MESSAGE_SPECS } from '../../../cluster/protocol/index.js';
import { DpopReplaySync } from '../../../cluster/dpop-sync/index.js';
import type { ReplayPeers } from '../../../node/contracts/index.js';
import { ReplayCache, ReplayGuard } from '../../../node/dpop/index.js';
import { waitFor } from '../../helpers/wait.js';

const key = (i: number): string => `k${String(i).padStart(42, '0')}`; // 43 chars like a SHA-256 base64url
const silent = pino({ level: 'silent' });

describe('ReplayCache', () => {
  it('accepts a key once while it lives, again after it expired', () => {
    const c = new ReplayCache(100);
    expect(c.claim(key(1), 160, 100)).toBe('fresh');
    expect(c.claim(key(1), 160, 150)).toBe('replayed');
    expect(c.claim(key(1), 160, 160)).toBe('replayed');
    expect(c.claim(key(1), 230, 161)).toBe('fresh'); // past its expiry: the proof's iat would refuse it anyway
    expect(c.stats()).toMatchObject({ replayed: 2 });
  });

  it('extend pushes every expiry later (a reload widened the window): a replay stays refused for the new width', () => {
    const c = new ReplayCache(100);
    expect(c.claim(key(1), 160, 100)).toBe('fresh');
    c.extend(540);
    expect(c.claim(key(1), 700, 650)).toBe('replayed');
    expect(c.claim(key(1), 700, 701)).toBe('fresh');
  });

  it('sweeps expired entries from the front', () => {
    const c = new ReplayCache(100);
    for (let i = 0; i < 10; i++) c.claim(key(i), 100 + i, 50);
    c.sweep(105);
    expect(c.size).toBe(5);
    expect(c.has(key(4), 105)).toBe(false);
    expect(c.has(key(5), 105)).toBe(true);
  });

  it('stays bounded; evicting a live entry raises the floor so the evicted proof stays refused', () => {
    const c = new ReplayCache(1000);
    for (let i = 0; i < 1000; i++) expect(c.claim(key(i), 200 + Math.floor(i / 100), 100)).toBe('fresh');
    // full of live entries: the next claim pushes out key(0) (exp 200)
    expect(c.claim(key(5000), 260, 100)).toBe('fresh');
    expect(c.size).toBe(1000);
    expect(c.stats().evicted_live).toBe(1);
    // replaying key(0) — same proof, same iat, same route → same exp — is refused by the floor
    expect(c.claim(key(0), 200, 100)).toBe('too_old');
    // a newer proof passes
    expect(c.claim(key(6000), 261, 100)).toBe('fresh');
    expect(c.stats()).toMatchObject({ too_old: 1, evicted_live: 2 });
  });

  it('proofs dated ahead are kept apart: at most a tenth of the bound, never evicted live, so the floor stays below fresh proofs', () => {
    const c = new ReplayCache(1000);
    c.setWindow(60);
    // now 100: iat 155 (55 s ahead) → exp 215
    for (let i = 0; i < 100; i++) expect(c.claim(key(i), 215, 100)).toBe('fresh');
    expect(c.claim(key(100), 215, 100), 'the ahead share is full').toBe('too_old');
    expect(c.claim(key(5), 215, 100), 'a proof dated ahead stays single-use').toBe('replayed');
    // the main cache fills and evicts live entries: the floor comes from proofs dated about now
    for (let i = 0; i < 1001; i++) expect(c.claim(key(2000 + i), 160, 100)).toBe('fresh');
    expect(c.stats().evicted_live).toBe(1);
    expect(c.claim(key(9000), 161, 101), 'a fresh proof of another client').toBe('fresh');
    expect(c.claim(key(5), 215, 101)).toBe('replayed');
    c.extend(100);
    expect(c.claim(key(5), 315, 250), 'extended like the other entries').toBe('replayed');
  });

  it('evicts expired entries without counting them live; the floor they leave is below every fresh proof', () => {
    const c = new ReplayCache(1000);
    for (let i = 0; i < 1000; i++) c.claim(key(i), 150, 100);
    expect(c.claim(key(5000), 300, 200)).toBe('fresh'); // swept, not evicted
    expect(c.claim(key(6000), 200, 200)).toBe('fresh'); // a proof expiring now or later is never under the floor
    expect(c.stats().evicted_live).toBe(0);
  });

  it('a proof forgotten once expired stays refused when the wall clock then steps back (regression: before, fresh again)', () => {
    const c = new ReplayCache(100);
    expect(c.claim(key(1), 160, 100)).toBe('fresh'); // iat 100, window 60
    c.sweep(161); // the clock passed its expiry: forgotten
    expect(c.has(key(1), 161)).toBe(false);
    // NTP steps the clock back 100 s: iat 100 is inside [now − 60, now + 60] again, the proof's check passes
    expect(c.claim(key(1), 160, 61)).toBe('too_old');
    expect(c.claim(key(2), 221, 161)).toBe('fresh'); // a fresh proof is untouched
  });

  it('the wall clock stepped an hour forward, then back: fresh proofs are accepted at once (regression: refused for the hour)', () => {
    const T = 1_700_000_000;
    const clock = { wall: T, mono: 0 }; // s
    const c = new ReplayCache(100, () => clock.mono * 1000);
    c.setWindow(300);
    c.sweep(clock.wall); // the periodic sweep at boot
    clock.wall += 3_600; // a bad NTP source steps the proxy, and the clients that follow it, an hour forward
    clock.mono += 1;
    expect(c.claim(key(1), clock.wall + 300, clock.wall)).toBe('fresh'); // a proof dated by the stepped clock
    clock.wall += 301;
    clock.mono += 301;
    c.sweep(clock.wall); // the wall says it expired; the monotonic clock says 301 s of its hour-ahead life passed
    clock.wall -= 3_600; // NTP steps back
    clock.mono += 1;
    // before: 'too_old' — the sweep had raised the floor to its expiry, an hour past every fresh proof's
    expect(c.claim(key(2), clock.wall + 300, clock.wall)).toBe('fresh');
    expect(c.has(key(1), clock.wall)).toBe(true); // not forgotten either: still refused as a replay once its iat is in the window
    // it goes once both clocks say so
    clock.wall += 3_600;
    clock.mono += 3_600;
    c.sweep(clock.wall);
    expect(c.has(key(1), clock.wall)).toBe(false);
  });

  it('built inside a step forward, given the offset known before (a worker its primary replaced then): fresh proofs pass after the step back', () => {
    const T = 1_700_000_000;
    const clock = { wall: T + 3_600, mono: 0 }; // s: the step is in effect when this cache is built
    const c = new ReplayCache(100, () => clock.mono * 1000, T * 1000); // the primary read wall − mono = T before the step
    c.setWindow(300);
    c.sweep(clock.wall); // the periodic sweep at boot
    expect(c.claim(key(1), clock.wall + 300, clock.wall)).toBe('fresh');
    clock.wall += 301;
    clock.mono += 301;
    c.sweep(clock.wall);
    clock.wall -= 3_600; // NTP steps back
    clock.mono += 1;
    // before: 'too_old' for the hour — the cache took the stepped clock for the offset, forgot the proof, raised the floor
    expect(c.claim(key(2), clock.wall + 300, clock.wall)).toBe('fresh');
  });
});

function fakePeers(over: Partial<ReplayPeers> = {}): ReplayPeers & { announced: string[]; suspected: string[] } {
  const announced: string[] = [];
  const suspected: string[] = [];
  return {
    self: 'me', ownerOf: () => 'other', ask: async () => 'fresh', announce: (k) => { announced.push(k); },
    suspect: (o) => { suspected.push(o); }, detach: () => {}, announced, suspected, ...over,
  };
}

describe('ReplayGuard', () => {
  it('decides locally without peers, synchronously', () => {
    const g = new ReplayGuard(new ReplayCache(100), null, 100);
    expect(g.check(key(1), 200, 100)).toBe('fresh');
    expect(g.check(key(1), 200, 100)).toBe('replayed');
  });

  it('refuses a local replay without asking the owner', async () => {
    let asked = 0;
    const g = new ReplayGuard(new ReplayCache(100), fakePeers({ ask: async () => { asked++; return 'fresh'; } }), 100);
    expect(await g.check(key(1), 200, 100)).toBe('fresh');
    expect(g.check(key(1), 200, 100)).toBe('replayed');
    expect(asked).toBe(1);
  });

  it("follows the owner's verdict", async () => {
    const g = new ReplayGuard(new ReplayCache(100), fakePeers({ ask: async () => 'replayed' }), 100);
    expect(await g.check(key(1), 200, 100)).toBe('replayed');
    expect(g.stats()).toMatchObject({ owner_asked: 1, owner_refused: 1 });
  });

  it('announces when it owns the key itself', () => {
    const peers = fakePeers({ ownerOf: () => 'me' });
    const g = new ReplayGuard(new ReplayCache(100), peers, 100);
    expect(g.check(key(1), 200, 100)).toBe('fresh');
    expect(peers.announced).toEqual([key(1)]);
  });

  it('while the owner is not known yet (the bus connected moments ago) the check waits, then asks the owner the converged view names', async () => {
    let release!: () => void;
    let known = false;
    let owner = 'me'; // a view of one: this member would own every key
    const asked: string[] = [];
    const peers = fakePeers({
      ownerOf: () => owner,
      ownersKnown: () => (known ? null : new Promise<void>((r) => { release = () => { known = true; owner = 'other'; r(); }; })),
      ask: async (o) => { asked.push(o); return 'replayed'; },
    });
    const g = new ReplayGuard(new ReplayCache(100), peers, 100);
    const v = g.check(key(1), 200, 100);
    expect(v).toBeInstanceOf(Promise);
    expect(peers.announced).toEqual([]); // not judged as its own owner
    release();
    expect(await v).toBe('replayed');
    expect(asked).toEqual(['other']);
    expect(g.stats()).toMatchObject({ owner_waited: 1, owner_asked: 1, owner_refused: 1 });
  });

  it('falls back to the local cache when the owner cannot be asked, counts it and suspects the owner', async () => {
    const peers = fakePeers({ ask: async () => { throw Object.assign(new Error('timeout'), { code: 'BUS_TIMEOUT' }); } });
    const g = new ReplayGuard(new ReplayCache(100), peers, 100);
    expect(await g.check(key(1), 200, 100)).toBe('fresh');
    expect(g.check(key(1), 200, 100)).toBe('replayed'); // still refused here
    expect(g.stats().fallback_local).toBe(1);
    expect(peers.suspected).toEqual(['other']);
  });
});

describe('DpopReplaySync over a MessageBus', () => {
  function member(transport: Transport, self: string, members: () => readonly string[]): { cache: ReplayCache; guard: ReplayGuard; sync: DpopReplaySync; bus: MessageBus } {
    const bus = new MessageBus(transport, new Codec(), subjects('t'));
    const sync = new DpopReplaySync({ bus, self, members, pickOwner: rendezvousOwner, logger: silent });
    const cache = new ReplayCache(1000);
    return { cache, guard: new ReplayGuard(cache, sync.attach(cache), 500), sync, bus };
  }
  const now = (): number => Math.floor(Date.now() / 1000);

  it('a proof claimed at one member is refused at the other, whoever owns it', async () => {
    const t = new LocalTransport();
    const ids = ['a', 'b'];
    const a = member(t, 'a', () => ids);
    const b = member(t, 'b', () => ids);
    const owners = { a: 0, b: 0 };
    for (let i = 0; i < 40; i++) {
      const k = key(i);
      owners[rendezvousOwner(k, ids) as 'a' | 'b']++;
      expect(await a.guard.check(k, now() + 60, now())).toBe('fresh');
      expect(await b.guard.check(k, now() + 60, now())).toBe('replayed');
    }
    expect(owners.a).toBeGreaterThan(0);
    expect(owners.b).toBeGreaterThan(0);
    expect(b.sync.stats().claims_served + a.sync.stats().claims_served).toBeGreaterThan(0);
    await t.close();
  });

  it('two members racing on the same proof: exactly one wins (the owner serialises)', async () => {
    const t = new LocalTransport();
    const ids = ['a', 'b'];
    const a = member(t, 'a', () => ids);
    const b = member(t, 'b', () => ids);
    for (let i = 100; i < 140; i++) {
      const k = key(i);
      const [x, y] = await Promise.all([a.guard.check(k, now() + 60, now()), b.guard.check(k, now() + 60, now())]);
      expect([x, y].filter((v) => v === 'fresh')).toHaveLength(1);
    }
    await t.close();
  });

  it("announces fresh claims so a member that becomes owner later still refuses the replay", async () => {
    const t = new LocalTransport();
    let ids = ['a', 'b'];
    const a = member(t, 'a', () => ids);
    const b = member(t, 'b', () => ids);
    const k = [...Array(200).keys()].map(key).find((x) => rendezvousOwner(x, ['a', 'b', 'c']) === 'c')!;
    expect(await a.guard.check(k, now() + 60, now())).toBe('fresh');
    await new Promise((r) => setImmediate(r));
    ids = ['a', 'b', 'c'];
    const c = member(t, 'c', () => ids);
    // c joined after the claim and owns the key now: it never saw it, b's local copy (from the announcement) refuses it
    expect(await b.guard.check(k, now() + 60, now())).toBe('replayed');
    expect(c.cache.has(k, now())).toBe(false);
    await t.close();
  });

  it('an owner that does not answer: local decision, owner skipped for a while', async () => {
    const t = new LocalTransport();
    const a = member(t, 'a', () => ['a', 'ghost']);
    const k = [...Array(200).keys()].map(key).find((x) => rendezvousOwner(x, ['a', 'ghost']) === 'ghost')!;
    expect(await a.guard.check(k, now() + 60, now())).toBe('fresh'); // no responder: local
    expect(a.guard.stats().fallback_local).toBe(1);
    expect(a.guard.check(k, now() + 60, now())).toBe('replayed');
    expect(a.sync.stats().suspects).toBe(1);
    await t.close();
  });

  it('a suspected owner is asked again after the suspicion, even if the wall clock was stepped back meanwhile (regression)', async () => {
    const t = new LocalTransport();
    const ids = ['a', 'late'];
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const sync = new DpopReplaySync({ bus, self: 'a', members: () => ids, pickOwner: rendezvousOwner, logger: silent, suspectMs: 200, now: () => Date.now() });
    const cache = new ReplayCache(1000);
    const guard = new ReplayGuard(cache, sync.attach(cache), 100);
    const owned = [...Array(2000).keys()].map(key).filter((x) => rendezvousOwner(x, ids) === 'late');
    expect(await guard.check(owned[0]!, now() + 60, now())).toBe('fresh'); // no responder yet: local, 'late' suspected
    expect(sync.stats().suspects).toBe(1);
    try {
      // before: the suspicion ended at a wall-clock instant — after an NTP step back of an hour 'late' was skipped for
      // the hour: this member judged its keys alone while the others asked 'late', and a proof replayed across them passed
      vi.setSystemTime(Date.now() - 3_600_000); // Date only
      const late = member(t, 'late', () => ids);
      let i = 1;
      await waitFor('the owner asked again', async () => { await guard.check(owned[i++]!, now() + 60, now()); return late.sync.stats().claims_served > 0; });
    } finally {
      vi.useRealTimers();
      await t.close();
    }
  });

  it('drops malformed claims instead of answering them', async () => {
    const t = new LocalTransport();
    const a = member(t, 'a', () => ['a']);
    const plain = new MessageBus(t, new Codec(), subjects('t'));
    await expect(plain.request(plain.subjects.dpopOwner('a'), { type: 'dpop.claim', v: 1, key: 'short', expiresAt: 1, member: 'x' }, 200)).rejects.toThrow();
    expect(a.sync.stats().claims_served).toBe(0);
    await t.close();
  });

  it('refuses claims and announcements with an expiry no proof can have (a peer cannot pin entries), counted', async () => {
    const t = new LocalTransport();
    const a = member(t, 'a', () => ['a']);
    const plain = new MessageBus(t, new Codec(), subjects('t'));
    const far = now() + 10 * 365 * 86_400;
    await expect(plain.request(plain.subjects.dpopOwner('a'), { type: 'dpop.claim', v: 1, key: key(900), expiresAt: far, member: 'x' }, 200)).rejects.toThrow();
    plain.publish(plain.subjects.dpopSeen, { type: 'dpop.seen', v: 1, key: key(901), expiresAt: far, origin: 'x' });
    await new Promise((r) => setTimeout(r, 10));
    expect(a.cache.has(key(900), now()) || a.cache.has(key(901), now())).toBe(false);
    expect(a.sync.stats()).toMatchObject({ claims_served: 0, invalid_received: 2 });
    expect(a.bus.rejections().invalid).toBe(2);
    // the longest legitimate expiry still passes
    plain.publish(plain.subjects.dpopSeen, { type: 'dpop.seen', v: 1, key: key(902), expiresAt: now() + 1_200, origin: 'x' });
    await new Promise((r) => setTimeout(r, 10));
    expect(a.cache.has(key(902), now())).toBe(true);
    await t.close();
  });

  it('an owner that could not read a replay record refuses peers\' claims for proofs that could be it (before: "fresh")', async () => {
    const t = new LocalTransport();
    const ids = ['a', 'b'];
    const a = member(t, 'a', () => ids);
    const b = member(t, 'b', () => ids);
    a.cache.setWindow(60);
    b.cache.setWindow(60);
    const k = [...Array(200).keys()].map(key).find((x) => rendezvousOwner(x, ids) === 'a')!;
    // a newer build's announcement, in a record this build does not know: a reads nothing of it
    const structures = [...MESSAGE_SPECS.map((s) => [...s.fields]), ['type', 'v', 'key', 'expiresAt', 'origin', 'binding']];
    const packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
    t.publish(a.bus.subjects.dpopSeen, packr.pack({ type: 'dpop.seen', v: 2, key: k, expiresAt: now() + 60, origin: 'n', binding: 'jkt' }));
    await new Promise((r) => setImmediate(r));
    expect(a.sync.stats().unreadable_received).toBe(1);
    // b asks a, the owner, about a proof dated now: it could be the one the newer member recorded
    expect(await b.guard.check(k, now() + 60, now())).toBe('too_old');
    // one dated past the record's window (iat after its signing + the 60 s window + 1 s) is answered as usual
    expect(await b.guard.check(key(999), now() + 63 + 60, now())).toBe('fresh');
    await t.close();
  });
});
