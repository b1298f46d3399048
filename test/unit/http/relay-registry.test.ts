// The listener's in-flight registry (node/http/relay-registry.ts): a set without a Set's rehash
// chain — add/delete/size, growth past its first slots, and iteration while entries leave.
import { describe, expect, it } from 'vitest';
import { RelayRegistry } from '../../../node/http/relay-registry.js';

const item = (id: number): { id: number; slot: number } => ({ id, slot: -1 });

describe('RelayRegistry', () => {
  it('adds, deletes and counts; a second add or delete is a no-op', () => {
    const r = new RelayRegistry<{ id: number; slot: number }>();
    const a = item(1), b = item(2);
    r.add(a); r.add(a); r.add(b);
    expect(r.size).toBe(2);
    expect(r.delete(a)).toBe(true);
    expect(r.delete(a)).toBe(false);
    expect(a.slot).toBe(-1);
    expect([...r].map((x) => x.id)).toEqual([2]);
    expect(r.size).toBe(1);
  });

  it('grows past its initial slots and reuses freed ones', () => {
    const r = new RelayRegistry<{ id: number; slot: number }>();
    const xs = Array.from({ length: 300 }, (_, i) => item(i));
    for (const x of xs) r.add(x);
    expect(r.size).toBe(300);
    expect(new Set([...r].map((x) => x.id)).size).toBe(300);
    for (const x of xs.slice(0, 150)) r.delete(x);
    const again = Array.from({ length: 150 }, (_, i) => item(1000 + i));
    for (const x of again) r.add(x);
    expect(r.size).toBe(300);
    expect([...r].filter((x) => x.id >= 1000)).toHaveLength(150);
  });

  it('tolerates deletes during iteration (a scanner that ends streams)', () => {
    const r = new RelayRegistry<{ id: number; slot: number }>();
    const xs = Array.from({ length: 10 }, (_, i) => item(i));
    for (const x of xs) r.add(x);
    const seen: number[] = [];
    for (const x of r) { seen.push(x.id); r.delete(x); }
    expect(seen.sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.size).toBe(0);
  });
});
