// The listener's in-flight relays: a slot array with a free list instead of a Set. A Set that takes
// and drops an entry per request rehashes into a new table every few dozen requests, and V8 keeps
// a link from each obsolete table to its successor (for live iterators): once one obsolete table
// is promoted, the chain keeps every later table and the relays in them alive through scavenges
// (measured: ~4 MB promoted per scavenge, scavenges 1 → 10–25 ms; bench/RESULTS.md, issue 13 tail).

/** What the registry needs of an entry: a slot index it owns (-1 while not registered). */
export interface Slotted { slot: number }

/**
 * A set of in-flight entries with O(1) add/delete and no allocation per request once grown (the
 * slot array doubles when full, never shrinks). Iteration tolerates deletes and adds during it
 * (an entry added during iteration may or may not be visited).
 */
export class RelayRegistry<T extends Slotted> implements Iterable<T> {
  private slots: (T | null)[] = new Array<T | null>(64).fill(null);
  private free: number[] = Array.from({ length: 64 }, (_, i) => 63 - i);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Register `x` (no-op when it already is). */
  add(x: T): void {
    if (x.slot >= 0) return;
    if (this.free.length === 0) {
      const n = this.slots.length;
      this.slots.length = n * 2;
      this.slots.fill(null, n);
      for (let i = n * 2 - 1; i >= n; i--) this.free.push(i);
    }
    const i = this.free.pop()!;
    this.slots[i] = x;
    x.slot = i;
    this.count++;
  }

  /** Unregister `x`; false when it was not registered. The slot is cleared, so nothing old points at it. */
  delete(x: T): boolean {
    const i = x.slot;
    if (i < 0 || this.slots[i] !== x) return false;
    this.slots[i] = null;
    x.slot = -1;
    this.free.push(i);
    this.count--;
    return true;
  }

  *[Symbol.iterator](): Iterator<T> {
    const s = this.slots;
    for (let i = 0; i < s.length; i++) {
      const x = s[i];
      if (x !== null && x !== undefined) yield x;
    }
  }
}
