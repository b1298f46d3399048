// The in-flight registries (node/slot-registry.ts): a set without a Set's rehash chain — add/delete/
// size, growth past its first slots, iteration while entries leave or arrive, clear, and one entry in
// two registries at once (each with its own slot field).
import { describe, expect, it } from 'vitest';
import { SlotRegistry } from '../../node/slot-registry.js';

interface Item { id: number; slot: number; bodySlot: number }
const item = (id: number): Item => ({ id, slot: -1, bodySlot: -1 });
const ids = (r: Iterable<Item>): number[] => [...r].map((x) => x.id).sort((p, q) => p - q);

describe('SlotRegistry', () => {
  it('adds, deletes and counts; a second add or delete is a no-op', () => {
    const r = new SlotRegistry<Item>('slot');
    const a = item(1), b = item(2);
    r.add(a); r.add(a); r.add(b);
    expect(r.size).toBe(2);
    expect(r.delete(a)).toBe(true);
    expect(r.delete(a)).toBe(false);
    expect(a.slot).toBe(-1);
    expect(ids(r)).toEqual([2]);
    expect(r.size).toBe(1);
  });

  it('grows past its initial slots and reuses freed ones', () => {
    const r = new SlotRegistry<Item>('slot');
    const xs = Array.from({ length: 300 }, (_, i) => item(i));
    for (const x of xs) r.add(x);
    expect(r.size).toBe(300);
    expect(new Set(ids(r)).size).toBe(300);
    for (const x of xs.slice(0, 150)) r.delete(x);
    const again = Array.from({ length: 150 }, (_, i) => item(1000 + i));
    for (const x of again) r.add(x);
    expect(r.size).toBe(300);
    expect(ids(r).filter((id) => id >= 1000)).toHaveLength(150);
    expect(Math.max(...[...xs, ...again].map((x) => x.slot))).toBeLessThan(300);
  });

  it('tolerates deletes during iteration (a scanner that ends streams)', () => {
    const r = new SlotRegistry<Item>('slot');
    const xs = Array.from({ length: 10 }, (_, i) => item(i));
    for (const x of xs) r.add(x);
    const seen: number[] = [];
    for (const x of r) { seen.push(x.id); r.delete(x); }
    expect(seen.sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.size).toBe(0);
  });

  it('visits every entry present from start to end of an iteration that adds past its capacity', () => {
    const r = new SlotRegistry<Item>('slot');
    const xs = Array.from({ length: 64 }, (_, i) => item(i));
    for (const x of xs) r.add(x);
    const seen: number[] = [];
    let next = 100;
    for (const x of r) {
      seen.push(x.id);
      if (next < 200) r.add(item(next++));
    }
    expect(r.size).toBe(164);
    expect(seen.filter((id) => id < 64).sort((p, q) => p - q)).toEqual(xs.map((x) => x.id));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('keeps one entry in two registries apart: each owns its own slot field', () => {
    const active = new SlotRegistry<Item>('slot');
    const bodies = new SlotRegistry<Item>('bodySlot');
    const xs = Array.from({ length: 5 }, (_, i) => item(i));
    for (const x of xs) active.add(x);
    bodies.add(xs[3]!); bodies.add(xs[1]!);
    expect(xs[3]!.slot).toBe(3);
    expect(xs[3]!.bodySlot).toBe(0);
    // registered in the other registry only: not a member here
    expect(bodies.delete(xs[0]!)).toBe(false);
    expect(bodies.delete(xs[3]!)).toBe(true);
    expect(xs[3]!.slot).toBe(3);
    expect(ids(active)).toEqual([0, 1, 2, 3, 4]);
    expect(ids(bodies)).toEqual([1]);
    expect(active.delete(xs[1]!)).toBe(true);
    expect(ids(bodies)).toEqual([1]);
    expect(xs[1]!.bodySlot).toBe(1);
  });

  it('clear unregisters every entry, which can then be added again', () => {
    const r = new SlotRegistry<Item>('slot');
    const xs = Array.from({ length: 70 }, (_, i) => item(i));
    for (const x of xs) r.add(x);
    r.clear();
    expect(r.size).toBe(0);
    expect([...r]).toEqual([]);
    expect(xs.every((x) => x.slot === -1)).toBe(true);
    r.add(xs[5]!);
    expect(ids(r)).toEqual([5]);
  });
});
