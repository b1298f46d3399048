// The verified-token cache: bounded by entries and bytes, CLOCK second chance,
// never a hit at or after an entry's expiry.
import { describe, it, expect } from 'vitest';
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

  it('is disabled with maxEntries 0', () => {
    const c = new TokenCache<number>({ maxEntries: 0, maxBytes: 1e6 });
    c.set('a', 1, 1e9, 1, 0);
    expect(c.get('a', 1)).toBeUndefined();
  });
});
