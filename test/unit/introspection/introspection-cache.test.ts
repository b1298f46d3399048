// The introspection cache's drop-by-predicate (an IdP's token-claims-change): exactly the matching
// entries go, the rest stay readable.
import { describe, expect, it } from 'vitest';
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
