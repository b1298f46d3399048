// Which cached entry dies first: a min-heap by expiry beside a cache's recency order, so a full cache drops its
// expired entries wherever use left them. O(log n) per insert, nothing on a hit; entries removed elsewhere are
// skipped when they surface and compacted away once they outnumber the live ones.

/** A min-heap of entries by `expiry(e)` (epoch ms), with lazy deletion: push small nodes (key and expiry), not the cached values — a removed entry's node stays until it surfaces or a compaction. */
export class ExpiryHeap<E> {
  #a: E[] = [];

  /** `expiry`: the entry's expiry, epoch ms; `live`: is the entry still the one its cache holds for its key. */
  constructor(private readonly expiry: (e: E) => number, private readonly live: (e: E) => boolean) {}

  /** Nodes held, stale ones included. */
  get length(): number { return this.#a.length; }

  push(e: E): void {
    const a = this.#a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.expiry(a[p]!) <= this.expiry(e)) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }

  /** Take out the live entry that expired first if it is expired at `now` (stale nodes on the way go); else undefined. */
  popExpired(now: number): E | undefined {
    const a = this.#a;
    while (a.length > 0) {
      const top = a[0]!;
      if (this.live(top) && this.expiry(top) > now) return undefined;
      this.#popTop();
      if (this.live(top)) return top;
    }
    return undefined;
  }

  /** Drop stale nodes when they outnumber the `live` count: O(n), at most once per n removals. */
  compact(live: number): void {
    if (this.#a.length <= 2 * live + 64) return;
    const kept = this.#a.filter((e) => this.live(e));
    this.#a = [];
    for (const e of kept) this.push(e);
  }

  clear(): void { this.#a = []; }

  #popTop(): void {
    const a = this.#a;
    const last = a.pop()!;
    if (a.length === 0) return;
    let i = 0;
    const n = a.length;
    const at = this.expiry(last);
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.expiry(a[c + 1]!) < this.expiry(a[c]!)) c++;
      if (this.expiry(a[c]!) >= at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }
}
