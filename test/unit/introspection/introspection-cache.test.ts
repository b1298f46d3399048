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
