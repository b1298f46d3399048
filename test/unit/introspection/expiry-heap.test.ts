// The expiry heap beside the introspection caches: whatever was pushed and removed, it hands out every
// live expired entry, earliest first, never a removed or live-and-unexpired one, and compaction keeps it small.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ExpiryHeap } from '../../../node/introspection/expiry-heap.js';

interface E { readonly key: number; readonly at: number }

describe('ExpiryHeap (property)', () => {
  it('pops exactly the live expired entries, in expiry order', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('push' as const), key: fc.nat(20), at: fc.nat(100) }),
      fc.record({ t: fc.constant('del' as const), key: fc.nat(20) }),
      fc.record({ t: fc.constant('pop' as const), now: fc.nat(100) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const map = new Map<number, E>();
      const h = new ExpiryHeap<E>((e) => e.at, (e) => map.get(e.key) === e);
      for (const o of ops) {
        if (o.t === 'push') {
          const e = { key: o.key, at: o.at };
          map.set(o.key, e);
          h.push(e);
          h.compact(map.size);
          expect(h.length).toBeLessThanOrEqual(2 * map.size + 64); // stale nodes never outnumber the live ones for long
        }
        else if (o.t === 'del') map.delete(o.key);
        else {
          const popped: E[] = [];
          for (let e = h.popExpired(o.now); e !== undefined; e = h.popExpired(o.now)) { popped.push(e); map.delete(e.key); }
          const want = [...popped].sort((a, b) => a.at - b.at);
          expect(popped.map((e) => e.at)).toEqual(want.map((e) => e.at));
          for (const e of popped) expect(e.at).toBeLessThanOrEqual(o.now);
          for (const e of map.values()) expect(e.at).toBeGreaterThan(o.now); // none left behind
        }
      }
    }));
  });
});
