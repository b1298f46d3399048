// In-flight sets on request paths (listener relays and bodies, h2 streams, gRPC deadlines, h2
// upstream calls): a slot array with a free list instead of a Set. A Set that takes and drops an
// entry per request rehashes into a new table every few dozen requests, and V8 keeps a link from
// each obsolete table to its successor (for live iterators): once one obsolete table is promoted,
// the chain keeps every later table and the entries in them alive through scavenges (measured:
// ~4 MB promoted per scavenge, scavenges 1 → 10–25 ms; bench/RESULTS.md, issue 13 tail).

/** The names of `T`'s number fields: where an entry keeps its index in one registry. */
export type SlotKey<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T] & string;

/**
 * A set of in-flight entries with O(1) add/delete and no allocation per entry once grown (the
 * slot array doubles when full, never shrinks). Each entry keeps its index in the field named by
 * `key` (-1 while not registered, which the entry must initialise), so one entry can sit in several
 * registries, each with its own field. Iteration tolerates deletes and adds during it (an entry
 * added during iteration may or may not be visited); the order is slot order, not insertion order.
 */
export class SlotRegistry<T extends object> implements Iterable<T> {
  private slots: (T | null)[] = new Array<T | null>(64).fill(null);
  private free: number[] = Array.from({ length: 64 }, (_, i) => 63 - i);
  private count = 0;

  /** `key`: the entry's own field for this registry's index (e.g. 'slot', 'bodySlot'). */
  constructor(private readonly key: SlotKey<T>) {}

  get size(): number {
    return this.count;
  }

  /** Register `x` (no-op when it already is). */
  add(x: T): void {
    const e = x as unknown as Record<string, number>;
    if (e[this.key]! >= 0) return;
    if (this.free.length === 0) {
      const n = this.slots.length;
      this.slots.length = n * 2;
      this.slots.fill(null, n);
      for (let i = n * 2 - 1; i >= n; i--) this.free.push(i);
    }
    const i = this.free.pop()!;
    this.slots[i] = x;
    e[this.key] = i;
    this.count++;
  }

  /** Unregister `x`; false when it was not registered. The slot is cleared, so nothing old points at it. */
  delete(x: T): boolean {
    const e = x as unknown as Record<string, number>;
    const i = e[this.key]!;
    if (!(i >= 0) || this.slots[i] !== x) return false;
    this.slots[i] = null;
    e[this.key] = -1;
    this.free.push(i);
    this.count--;
    return true;
  }

  /** Unregister every entry (each one's field back to -1); the grown slot array is kept. */
  clear(): void {
    const s = this.slots;
    for (let i = 0; i < s.length; i++) {
      const x = s[i];
      if (x !== null && x !== undefined) this.delete(x);
    }
  }

  *[Symbol.iterator](): Iterator<T> {
    const s = this.slots;
    for (let i = 0; i < s.length; i++) {
      const x = s[i];
      if (x !== null && x !== undefined) yield x;
    }
  }
}
