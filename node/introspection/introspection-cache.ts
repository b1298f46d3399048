// Bounded LRU of introspection outcomes keyed by SHA-256 hex of the token, with a
// hard expiry per entry checked on every read. A Map keeps insertion order, so
// re-inserting on a hit makes the first key the least recently used.

export interface CacheEntry<V> {
  readonly value: V;
  /** Epoch ms; the entry is dead at and after this instant. */
  readonly expiresAt: number;
}

export class IntrospectionCache<V> {
  readonly maxEntries: number;
  readonly #map = new Map<string, CacheEntry<V>>();
  evictions = 0;
  expirations = 0;

  /** `maxEntries` 0 disables caching (every set is dropped). */
  constructor(maxEntries: number) {
    this.maxEntries = Math.max(0, Math.floor(maxEntries));
  }

  get size(): number { return this.#map.size; }

  /** The live value for `key`, or undefined (an expired entry is dropped). */
  get(key: string, nowMs: number): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= nowMs) {
      this.#map.delete(key);
      this.expirations++;
      return undefined;
    }
    // move to the most-recent end
    this.#map.delete(key);
    this.#map.set(key, e);
    return e.value;
  }

  /** Insert or replace; an entry already expired (or with caching disabled) is not stored. */
  set(key: string, value: V, expiresAt: number, nowMs: number): boolean {
    if (this.maxEntries === 0 || expiresAt <= nowMs) return false;
    this.#map.delete(key);
    while (this.#map.size >= this.maxEntries) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
      this.evictions++;
    }
    this.#map.set(key, { value, expiresAt });
    return true;
  }

  /**
   * Drop every entry whose value `match`es; returns their keys. A full scan (one pass over at most
   * maxEntries entries): for rare events (an IdP's token-claims-change), never per request.
   */
  dropWhere(match: (value: V) => boolean): string[] {
    const dropped: string[] = [];
    for (const [key, e] of this.#map) if (match(e.value)) dropped.push(key);
    for (const key of dropped) this.#map.delete(key);
    return dropped;
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
