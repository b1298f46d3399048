// The verified-token cache: bounded by entries and bytes, CLOCK second chance,
// never a hit at or after an entry's expiry.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TokenCache } from '../../../node/jwt/index.js';

describe('TokenCache', () => {
  it('returns values until expiry, and never at the expiry instant', () => {
    const c = new TokenCache<string>({ maxEntries: 10, maxBytes: 1000 });
    c.set('a', 'A', 2000, 10, 1000);
    expect(c.get('a', 1999)).toBe('A');
    expect(c.get('a', 2000)).toBeUndefined();
    expect(c.size).toBe(0);
    expect(c.bytes).toBe(0);
    expect(c.counters).toMatchObject({ hits: 1, misses: 1, expirations: 1 });
  });

  it('peek (the cluster gate\'s look) answers like get until expiry but counts nothing and gives no second chance', () => {
    const c = new TokenCache<string>({ maxEntries: 2, maxBytes: 1000 });
    c.set('a', 'A', 2000, 10, 1000);
    c.set('b', 'B', 2000, 10, 1000);
    expect(c.peek('a', 1999)).toBe('A');
    expect(c.peek('a', 2000)).toBeUndefined();
    expect(c.peek('zz', 1000)).toBeUndefined();
    expect(c.counters).toMatchObject({ hits: 0, misses: 0, expirations: 0 });
    c.set('c', 'C', 3000, 10, 1000); // a peeked entry is not marked used: the first one goes
    expect([c.peek('a', 1500), c.peek('b', 1500), c.peek('c', 1500)]).toEqual([undefined, 'B', 'C']);
  });

  it('does not store entries already expired or larger than the byte bound', () => {
    const c = new TokenCache<string>({ maxEntries: 10, maxBytes: 100 });
    c.set('old', 'x', 1000, 10, 1000);
    c.set('huge', 'x', 5000, 101, 1000);
    expect(c.size).toBe(0);
  });

  it('bounds the entry count, evicting unreferenced entries first', () => {
    const c = new TokenCache<number>({ maxEntries: 3, maxBytes: 1e6 });
    c.set('a', 1, 1e9, 1, 0);
    c.set('b', 2, 1e9, 1, 0);
    c.set('c', 3, 1e9, 1, 0);
    c.get('a', 1); c.get('c', 1);
    c.set('d', 4, 1e9, 1, 0);
    expect(c.get('b', 2)).toBeUndefined();
    expect([c.get('a', 2), c.get('c', 2), c.get('d', 2)]).toEqual([1, 3, 4]);
    expect(c.size).toBe(3);
    expect(c.counters.evictions).toBe(1);
  });

  it('bounds the byte total', () => {
    const c = new TokenCache<number>({ maxEntries: 1000, maxBytes: 250 });
    for (let i = 0; i < 20; i++) c.set(`k${i}`, i, 1e9, 100, 0);
    expect(c.bytes).toBeLessThanOrEqual(250);
    expect(c.size).toBe(2);
    expect(c.get('k19', 1)).toBe(19);
  });

  it('prefers expired entries when it must make room', () => {
    const c = new TokenCache<number>({ maxEntries: 2, maxBytes: 1e6 });
    c.set('short', 1, 100, 1, 0);
    c.set('long', 2, 1e9, 1, 0);
    c.get('short', 50);
    c.set('new', 3, 1e9, 1, 200);
    expect(c.get('long', 201)).toBe(2);
    expect(c.get('new', 201)).toBe(3);
  });

  it('replaces an existing key and reuses freed slots under churn', () => {
    const c = new TokenCache<number>({ maxEntries: 100, maxBytes: 1e6 });
    c.set('a', 1, 1e9, 10, 0);
    c.set('a', 2, 1e9, 20, 0);
    expect(c.get('a', 1)).toBe(2);
    expect(c.bytes).toBe(20);
    for (let i = 0; i < 10_000; i++) c.set(`t${i}`, i, 1e9, 1, 0);
    expect(c.size).toBe(100);
    expect(c.bytes).toBeLessThanOrEqual(20 + 99);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get('t9999', 1)).toBeUndefined();
  });

  it('a set right after its key\'s miss inserts once, and a second set of that key replaces it (the miss is forgotten at the first set)', () => {
    const c = new TokenCache<string>({ maxEntries: 10, maxBytes: 1e9 });
    expect(c.get('a', 1)).toBeUndefined();
    c.set('b', 'b1', 100, 1, 0); // another key's set between the miss and the insert
    c.set('a', 'a1', 100, 1, 0);
    c.set('a', 'a2', 100, 1, 0);
    expect(c.size).toBe(2);
    expect(c.get('a', 1)).toBe('a2');
    expect(c.get('x', 1)).toBeUndefined();
    c.set('x', 'x0', 0, 1, 0); // refused (already expired): nothing stored, the miss forgotten
    c.set('x', 'x1', 100, 1, 0);
    c.set('x', 'x2', 100, 1, 0);
    expect(c.size).toBe(3);
    expect(c.delete('x')).toBe(true);
    expect(c.get('x', 1)).toBeUndefined();
    expect(c.get('a', 200)).toBeUndefined(); // expired: dropped on this read, then set again once
    c.set('a', 'a3', 300, 1, 100);
    c.set('a', 'a4', 300, 1, 100);
    expect(c.size).toBe(2);
    expect(c.get('a', 150)).toBe('a4');
  });

  it('is disabled with maxEntries 0', () => {
    const c = new TokenCache<number>({ maxEntries: 0, maxBytes: 1e6 });
    c.set('a', 1, 1e9, 1, 0);
    expect(c.get('a', 1)).toBeUndefined();
  });

  // keys that share their first 16 chars (the index hashes only those) and hex digests: the index must compare whole keys
  const KEYS = [...Array.from({ length: 12 }, (_, i) => `${'f'.repeat(16)}${i}`), ...Array.from({ length: 12 }, (_, i) => i.toString(16).padStart(64, '0')), 'a', 'b'];
  type Op = { op: 'set' | 'get' | 'delete'; key: string; v: number } | { op: 'clear' };
  const ops = fc.array(fc.oneof(
    { arbitrary: fc.record({ op: fc.constantFrom('set' as const, 'get' as const, 'delete' as const), key: fc.constantFrom(...KEYS), v: fc.integer() }), weight: 40 },
    { arbitrary: fc.constant({ op: 'clear' as const }), weight: 1 },
  ), { maxLength: 400 });

  it('without eviction behaves exactly like a Map (sets, replacements, deletes, clears, tombstone reuse)', () => {
    fc.assert(fc.property(ops, (seq: Op[]) => {
      const c = new TokenCache<number>({ maxEntries: 30, maxBytes: 1e9 }); // ≥ the 26 keys; a 64-position index that rebuilds often
      const m = new Map<string, number>();
      for (const o of seq) {
        if (o.op === 'clear') { c.clear(); m.clear(); continue; }
        if (o.op === 'set') { c.set(o.key, o.v, 1e9, 1, 0); m.set(o.key, o.v); }
        else if (o.op === 'delete') expect(c.delete(o.key)).toBe(m.delete(o.key));
        else expect(c.get(o.key, 1)).toBe(m.get(o.key));
        expect(c.size).toBe(m.size);
      }
      for (const k of KEYS) expect(c.get(k, 1)).toBe(m.get(k));
    }));
  });

  it('with eviction stays within its bound and never answers a value other than the last one set for the key', () => {
    fc.assert(fc.property(ops, (seq: Op[]) => {
      const c = new TokenCache<number>({ maxEntries: 5, maxBytes: 1e9 });
      const last = new Map<string, number>();
      for (const o of seq) {
        if (o.op === 'clear') { c.clear(); last.clear(); continue; }
        if (o.op === 'set') { c.set(o.key, o.v, 1e9, 1, 0); last.set(o.key, o.v); expect(c.get(o.key, 1)).toBe(o.v); }
        else if (o.op === 'delete') { c.delete(o.key); last.delete(o.key); expect(c.get(o.key, 1)).toBeUndefined(); }
        else { const v = c.get(o.key, 1); if (v !== undefined) expect(v).toBe(last.get(o.key)); }
        expect(c.size).toBeLessThanOrEqual(5);
      }
    }));
  });
});
