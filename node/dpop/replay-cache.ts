// The local record of DPoP proofs seen: key (hash of the key thumbprint and the proof's
// jti) → epoch second after which the proof is refused by its `iat` anyway. Bounded: at the
// bound the oldest entry leaves, and when it was still live every proof that expires no
// later is refused from then on (the "floor"), so eviction narrows the window, never opens a replay.

import type { ReplayClaims, ReplayVerdict } from '../contracts/index.js';

/** Counters of one cache. */
export interface ReplayCacheStats {
  entries: number;
  replayed: number;
  /** Refused by the floor (the cache was full of live entries). */
  too_old: number;
  /** Live entries pushed out by the bound: raise `dpop.replay.max_entries` if this grows. */
  evicted_live: number;
}

/**
 * Check-and-set of proof keys. Entries are kept in insertion order; expired ones are swept
 * from the front (a few per claim, and by `sweep`). A proof's expiry is iat + the widest iat
 * window of any route (DpopStage): a replay of a proof has the same iat, so the same expiry —
 * which makes the expiry of an evicted entry the right floor.
 */
export class ReplayCache implements ReplayClaims {
  private readonly entries = new Map<string, number>();
  private floor = 0;
  private readonly counters: ReplayCacheStats = { entries: 0, replayed: 0, too_old: 0, evicted_live: 0 };

  constructor(private maxEntries: number) {}

  /** Change the bound (reload); a smaller bound takes effect as entries come and go. */
  resize(maxEntries: number): void {
    this.maxEntries = maxEntries;
  }

  /**
   * Record `key` unless a live entry has it. `exp`: epoch seconds after which the proof is
   * refused by its iat; `nowS`: epoch seconds. Synchronous, O(1) amortised.
   */
  claim(key: string, exp: number, nowS: number): ReplayVerdict {
    const have = this.entries.get(key);
    if (have !== undefined && have >= nowS) {
      this.counters.replayed++;
      return 'replayed';
    }
    if (exp <= this.floor) {
      this.counters.too_old++;
      return 'too_old';
    }
    this.sweep(nowS, 4);
    if (have !== undefined) this.entries.delete(key);
    else if (this.entries.size >= this.maxEntries) this.evictOldest(nowS);
    this.entries.set(key, exp);
    return 'fresh';
  }

  /**
   * Push every expiry (and the floor) `deltaS` seconds later: a reload widened the widest iat
   * window, so proofs seen live longer (O(entries), at reload only; the order is kept).
   */
  extend(deltaS: number): void {
    if (deltaS <= 0) return;
    for (const [k, exp] of this.entries) this.entries.set(k, exp + deltaS);
    if (this.floor > 0) this.floor += deltaS;
  }

  /** Is `key` recorded and live? (Does not record it.) */
  has(key: string, nowS: number): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e >= nowS;
  }

  /** Drop expired entries from the front, at most `budget` of them. */
  sweep(nowS: number, budget = Infinity): void {
    for (const [k, exp] of this.entries) {
      if (budget-- <= 0 || exp >= nowS) return;
      this.entries.delete(k);
    }
  }

  stats(): ReplayCacheStats {
    this.counters.entries = this.entries.size;
    return { ...this.counters };
  }

  get size(): number { return this.entries.size; }

  private evictOldest(nowS: number): void {
    while (this.entries.size >= this.maxEntries) {
      const [k, exp] = this.entries.entries().next().value as [string, number];
      this.entries.delete(k);
      if (exp >= nowS) {
        this.counters.evicted_live++;
        if (exp > this.floor) this.floor = exp;
      }
    }
  }
}
