// The calls that timed out for their waiters but are still on the wire, by token key: each is watched so
// that an eviction, a subject drop or a newer answer meanwhile keeps its late answer out of the cache.

/** One late call's watch: `evicted` once something newer than its answer happened to its token. */
export interface LateWatch { evicted: boolean }

/** Timed-out calls still on the wire, by token key (two may be late at once, each its own answer). */
export class LateWatches {
  readonly #byKey = new Map<string, Set<LateWatch>>();

  /** Calls are late for some token (a subject drop must be remembered for them). */
  get size(): number { return this.#byKey.size; }

  /** Watch one more late call of `key`. */
  watch(key: string): LateWatch {
    const w: LateWatch = { evicted: false };
    const watches = this.#byKey.get(key) ?? new Set();
    this.#byKey.set(key, watches.add(w));
    return w;
  }

  /** The late call of `w` left the wire. */
  unwatch(key: string, w: LateWatch): void {
    const watches = this.#byKey.get(key);
    if (watches === undefined) return;
    watches.delete(w);
    if (watches.size === 0) this.#byKey.delete(key);
  }

  /** Something newer than every late answer of `key` happened (evicted, cached, primed): those answers are dropped. */
  overtake(key: string): void {
    const watches = this.#byKey.get(key);
    if (watches !== undefined) for (const w of watches) w.evicted = true;
  }

  /** overtake() for every key (the whole cache was dropped). */
  overtakeAll(): void {
    for (const watches of this.#byKey.values()) for (const w of watches) w.evicted = true;
  }
}
