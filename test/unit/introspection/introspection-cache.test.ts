// The introspection cache: drop-by-predicate (an IdP's token-claims-change), refused answers kept
// apart from accepted ones, a newer answer replacing the older, and its bounds and byte accounting.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IntrospectionCache } from '../../../node/introspection/introspection-cache.js';

describe('IntrospectionCache.dropWhere', () => {
  it('drops the matching entries, returns their keys, keeps the others', () => {
    const c = new IntrospectionCache<{ sub: string }>(10);
    c.set('k1', { sub: 'a' }, 1_000, 0);
    c.set('k2', { sub: 'b' }, 1_000, 0);
    c.set('k3', { sub: 'a' }, 1_000, 0);
    expect(c.dropWhere((v) => v.sub === 'a').sort()).toEqual(['k1', 'k3']);
    expect(c.size).toBe(1);
    expect(c.get('k1', 1)).toBeUndefined();
    expect(c.get('k2', 1)).toEqual({ sub: 'b' });
    expect(c.dropWhere((v) => v.sub === 'nobody')).toEqual([]);
  });
});

describe('IntrospectionCache.peek (the cluster gate\'s look)', () => {
  it('answers live entries only and leaves the recency order alone', () => {
    const c = new IntrospectionCache<string>(2);
    c.set('k1', 'a', 1_000, 0);
    c.set('k2', 'b', 1_000, 0);
    expect(c.peek('k1', 999)).toBe('a');
    expect(c.peek('k1', 1_000)).toBeUndefined();
    expect(c.peek('nope', 1)).toBeUndefined();
    c.set('k3', 'c', 1_000, 0); // k1 stays the least recently used despite the peek
    expect([c.peek('k1', 1), c.peek('k2', 1), c.peek('k3', 1)]).toEqual([undefined, 'b', 'c']);
  });
});

describe('IntrospectionCache: refused outcomes never evict accepted ones (a flood of junk tokens)', () => {
  const ok = (v: string): boolean => v.startsWith('ok');
  it('junk makes room among junk only, and is not stored once good answers fill the cache', () => {
    const c = new IntrospectionCache<string>(3, Infinity, ok);
    c.set('good', 'ok-alice', 1_000, 0);
    for (let i = 0; i < 100; i++) c.set(`junk${i}`, 'inactive', 1_000, 0);
    expect(c.get('good', 1)).toBe('ok-alice');
    expect(c.size).toBe(3);
    expect(c.peek('junk99', 1)).toBe('inactive'); // the newest junk is still cached (negative caching kept)
    c.set('good2', 'ok-bob', 1_000, 0);
    c.set('good3', 'ok-carol', 1_000, 0); // good answers push the junk out first
    expect([c.peek('good', 1), c.peek('good2', 1), c.peek('good3', 1)]).toEqual(['ok-alice', 'ok-bob', 'ok-carol']);
    expect(c.set('junk-late', 'inactive', 1_000, 0)).toBe(false);
    c.set('good4', 'ok-dave', 1_000, 0); // among good ones: least recently used goes
    expect(c.peek('good', 1)).toBeUndefined();
    expect(c.size).toBe(3);
  });

  it('the byte bound follows the same rule', () => {
    const c = new IntrospectionCache<string>(100, 1_000, ok);
    c.set('good', 'ok-alice', 1_000, 0, 600);
    for (let i = 0; i < 10; i++) c.set(`junk${i}`, 'inactive', 1_000, 0, 300);
    expect(c.peek('good', 1)).toBe('ok-alice');
    expect(c.bytes).toBeLessThanOrEqual(1_000);
    expect(c.dropWhere((v) => v === 'inactive')).toEqual(['junk9']);
    expect(c.bytes).toBe(600);
  });
});

describe('IntrospectionCache: expired accepted answers make room for refused ones', () => {
  it('a cache filled over time with dead accepted answers still caches an "inactive" answer', () => {
    const c = new IntrospectionCache<string>(2, Infinity, (v) => v.startsWith('ok'));
    c.set('old1', 'ok-a', 100, 0);
    c.set('old2', 'ok-b', 100, 0);
    expect(c.set('junk', 'inactive', 1_000, 200)).toBe(true);
    expect(c.get('junk', 201)).toBe('inactive');
    expect(c.expirations).toBe(1);
  });
});

describe('IntrospectionCache: an expired answer makes room wherever recency order put it', () => {
  const ok = (v: string): boolean => v.startsWith('ok');
  it('a dead accepted answer behind a live one: the "inactive" answer is cached, the live one kept', () => {
    const c = new IntrospectionCache<string>(2, Infinity, ok);
    c.set('live', 'ok-a', 10_000, 0); // least recently used, but live
    c.set('dead', 'ok-b', 100, 0);
    // before: only the least-recently-used end was looked at, so the junk token was not cached (an AS call per retry)
    expect(c.set('junk', 'inactive', 1_000, 200)).toBe(true);
    expect([c.peek('live', 201), c.peek('dead', 201), c.peek('junk', 201)]).toEqual(['ok-a', undefined, 'inactive']);
    expect([c.expirations, c.evictions, c.size]).toEqual([1, 0, 2]);
  });

  it('a new accepted answer takes a dead one\'s place before a live one\'s', () => {
    const c = new IntrospectionCache<string>(2, 1_000, ok);
    c.set('live', 'ok-a', 10_000, 0, 400);
    c.set('dead', 'ok-b', 100, 0, 400);
    c.get('live', 50); c.get('dead', 60); // recency order: live, dead
    expect(c.set('new', 'ok-c', 10_000, 200, 400)).toBe(true);
    // before: the live answer was evicted (its token introspected again) and the dead one held its place
    expect([c.peek('live', 201), c.peek('new', 201), c.bytes]).toEqual(['ok-a', 'ok-c', 800]);
  });
});

describe('IntrospectionCache: a newer answer not stored still replaces the older one', () => {
  it('an "inactive" answer expired on arrival (negative_ttl_s 0, a late fill) takes the token\'s cached "active" answer out', () => {
    const c = new IntrospectionCache<string>(10, 1_000, (v) => v.startsWith('ok'));
    c.set('tok', 'ok-alice', 60_000, 0, 100);
    expect(c.set('tok', 'inactive', 500, 500)).toBe(false);
    expect(c.peek('tok', 501)).toBeUndefined();
    expect([c.size, c.bytes]).toEqual([0, 0]);
    c.set('tok', 'ok-alice', 60_000, 0, 100);
    expect(c.set('tok', 'ok-alice-new-claims', 60_000, 0, 5_000)).toBe(false); // too large to keep: the older claims go all the same
    expect([c.peek('tok', 1), c.bytes]).toEqual([undefined, 0]);
  });
});

describe('IntrospectionCache: bounds and byte accounting under any order of operations (property)', () => {
  type Op = { t: 'set'; key: number; ok: boolean; ttl: number; size: number } | { t: 'get' | 'del'; key: number } | { t: 'tick'; ms: number } | { t: 'drop'; ok: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('set' as const), key: fc.nat(7), ok: fc.boolean(), ttl: fc.integer({ min: -5, max: 50 }), size: fc.nat(400) }) },
    fc.record({ t: fc.constantFrom('get' as const, 'del' as const), key: fc.nat(7) }),
    fc.record({ t: fc.constant('tick' as const), ms: fc.nat(30) }),
    fc.record({ t: fc.constant('drop' as const), ok: fc.boolean() }),
  );
  it('within its bounds, a refused value never evicts a live accepted one, a set never leaves the older value, bytes return to 0', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 100, max: 1000 }), fc.array(op, { maxLength: 60 }), (maxEntries, maxBytes, ops) => {
      let now = 0;
      // one clock for both readings: the model moves time only by its ticks (a real monotonic clock runs on through the run)
      const c = new IntrospectionCache<{ ok: boolean }>(maxEntries, maxBytes, (v) => v.ok, () => now);
      for (const o of ops) {
        if (o.t === 'set') {
          const liveGood = Array.from({ length: 8 }, (_, k) => k).filter((k) => k !== o.key && c.peek(String(k), now)?.ok === true);
          const v = { ok: o.ok };
          const stored = c.set(String(o.key), v, now + o.ttl, now, o.size);
          expect(c.peek(String(o.key), now)).toBe(stored ? v : undefined);
          if (!o.ok) for (const k of liveGood) expect(c.peek(String(k), now)?.ok, `accepted ${k}`).toBe(true);
        } else if (o.t === 'get') c.get(String(o.key), now);
        else if (o.t === 'del') c.delete(String(o.key));
        else if (o.t === 'tick') now += o.ms;
        else if (o.t === 'drop') c.dropWhere((v) => v.ok === o.ok);
        expect(c.size).toBeLessThanOrEqual(maxEntries);
        expect(c.bytes).toBeLessThanOrEqual(maxBytes);
      }
      c.dropWhere(() => true);
      expect([c.size, c.bytes]).toEqual([0, 0]);
    }), { numRuns: 1000 });
  });
});

describe('IntrospectionCache under a stepped wall clock', () => {
  it('an entry dies at the real time it was given, whichever clock says so first', () => {
    let mono = 0;
    const c = new IntrospectionCache<string>(10, Infinity, () => true, () => mono);
    const wall = 1_000_000;
    c.set('back', 'ok', wall + 60_000, wall);
    c.set('ahead', 'ok', wall + 60_000, wall);
    mono = 59_999;
    // the wall clock stepped back an hour: still alive for the millisecond it has left, then gone (before: an hour more)
    expect(c.peek('back', wall - 3_600_000 + 59_999)).toBe('ok');
    mono = 60_000;
    expect(c.get('back', wall - 3_600_000 + 60_000)).toBeUndefined();
    // stepped forward past its expiry: gone at once (one call to the authorization server more, never a late one)
    mono = 1;
    expect(c.get('ahead', wall + 60_000)).toBeUndefined();
  });
});
