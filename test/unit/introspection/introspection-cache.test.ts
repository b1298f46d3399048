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
