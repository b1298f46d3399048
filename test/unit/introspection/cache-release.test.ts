// Memory the introspection caches let go: an answer evicted, replaced or dropped is no longer held by
// the expiry heap beside them (its node names the key and the expiry only), so the byte bound is the memory bound.
import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IntrospectionCache } from '../../../node/introspection/introspection-cache.js';
import { LeaseTable, leaseId } from '../../../cluster/cache-sync/lease-table.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** How many of `refs` a full GC (after the current job, which keeps WeakRef targets alive) leaves reachable. */
async function alive(refs: Array<WeakRef<object>>): Promise<number> {
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  return refs.filter((r) => r.deref() !== undefined).length;
}

/** Ten values stored by `store`, as weak references. */
function fill(store: (i: number) => object): Array<WeakRef<object>> {
  const refs: Array<WeakRef<object>> = [];
  for (let i = 0; i < 10; i++) refs.push(new WeakRef(store(i)));
  return refs;
}

describe('evicted answers are released', () => {
  it('IntrospectionCache: values evicted by newer ones are collectable', async () => {
    const c = new IntrospectionCache<{ claims: string }>(10);
    // filled in a function of its own: a suspended async frame keeps its last loop values alive
    const refs = fill((i) => { const v = { claims: 'x'.repeat(1000) + i }; c.set(`old${i}`, v, 10_000, 0); return v; });
    for (let i = 0; i < 10; i++) c.set(`new${i}`, { claims: String(i) }, 10_000, 0); // each evicts the least recently used
    expect(c.size).toBe(10);
    expect(await alive(refs)).toBe(0);
  });

  it('LeaseTable: kept results dropped for newer ones are collectable', async () => {
    const t = new LeaseTable({ leaseMs: 1_000, maxLeases: 10, maxResults: 10, now: () => 0, mono: () => 0 });
    const refs = fill((i) => { const claims = { sub: 'x'.repeat(1000) + i }; t.complete(leaseId('iss', `old${i}`), 'iss', { active: true, claims, expiresAt: 10_000 }, true); return claims; });
    for (let i = 0; i < 10; i++) t.complete(leaseId('iss', `new${i}`), 'iss', { active: true, claims: { sub: String(i) }, expiresAt: 10_000 }, true);
    expect(t.kept).toBe(10);
    expect(await alive(refs)).toBe(0);
  });
});
