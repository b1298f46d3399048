// Bounded LRU of introspection outcomes keyed by SHA-256 hex of the token, with a
// hard expiry per entry checked on every read, bounded by entries and by estimated
// bytes. A Map keeps insertion order, so re-inserting on a hit makes the first key
// the least recently used.

export interface CacheEntry<V> {
  readonly value: V;
  /** Epoch ms; the entry is dead at and after this instant. */
  readonly expiresAt: number;
  /** Estimated memory of the entry, bytes (counted against maxBytes). */
  readonly size: number;
}

export class IntrospectionCache<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly #map = new Map<string, CacheEntry<V>>();
  #bytes = 0;
  evictions = 0;
  expirations = 0;

  /**
   * `maxEntries` 0 disables caching (every set is dropped); `maxBytes` bounds the sum of the
   * entries' sizes (default: no byte bound), so an authorization server answering 200 KiB of
   * claims per token cannot grow the cache to cache_entries × 256 KiB.
   */
  constructor(maxEntries: number, maxBytes = Infinity) {
    this.maxEntries = Math.max(0, Math.floor(maxEntries));
    this.maxBytes = Math.max(0, maxBytes);
  }

  get size(): number { return this.#map.size; }

  /** Estimated bytes held. */
  get bytes(): number { return this.#bytes; }

  /** The live value for `key`, or undefined (an expired entry is dropped). */
  get(key: string, nowMs: number): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= nowMs) {
      this.#remove(key, e);
      this.expirations++;
      return undefined;
    }
    // move to the most-recent end
    this.#map.delete(key);
    this.#map.set(key, e);
    return e.value;
  }

  /** The live value for `key`, or undefined, leaving the recency order alone (the cluster gate's look, node/auth). */
  peek(key: string, nowMs: number): V | undefined {
    const e = this.#map.get(key);
    return e !== undefined && e.expiresAt > nowMs ? e.value : undefined;
  }

  /**
   * Insert or replace; an entry already expired, larger than maxBytes, or with caching disabled
   * is not stored. Least recently used entries make room. `size`: estimated bytes, default 0.
   */
  set(key: string, value: V, expiresAt: number, nowMs: number, size = 0): boolean {
    if (this.maxEntries === 0 || expiresAt <= nowMs || !(size <= this.maxBytes)) return false;
    const old = this.#map.get(key);
    if (old !== undefined) this.#remove(key, old);
    while (this.#map.size >= this.maxEntries || (this.#map.size > 0 && this.#bytes + size > this.maxBytes)) {
      const [oldest, e] = this.#map.entries().next().value as [string, CacheEntry<V>];
      this.#remove(oldest, e);
      this.evictions++;
    }
    this.#map.set(key, { value, expiresAt, size });
    this.#bytes += size;
    return true;
  }

  /**
   * Drop every entry whose value `match`es; returns their keys. A full scan (one pass over at most
   * maxEntries entries): for rare events (an IdP's token-claims-change), never per request.
   */
  dropWhere(match: (value: V) => boolean): string[] {
    const dropped: string[] = [];
    for (const [key, e] of this.#map) if (match(e.value)) dropped.push(key);
    for (const key of dropped) this.#remove(key, this.#map.get(key)!);
    return dropped;
  }

  delete(key: string): boolean {
    const e = this.#map.get(key);
    if (e === undefined) return false;
    this.#remove(key, e);
    return true;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  #remove(key: string, e: CacheEntry<V>): void {
    this.#map.delete(key);
    this.#bytes -= e.size;
  }
}

/** Fixed cost of one entry beyond its claims (key, entry, outcome and principal objects), bytes. */
const ENTRY_OVERHEAD_BYTES = 600;

/**
 * Estimated memory of a cached result: its claims as JSON text plus a fixed overhead; Infinity
 * (never cached) when they cannot be measured. Once per authorization-server answer, never per request.
 */
export function resultSize(claims: unknown): number {
  if (claims === null || claims === undefined) return ENTRY_OVERHEAD_BYTES;
  try {
    return JSON.stringify(claims).length + ENTRY_OVERHEAD_BYTES;
  } catch {
    return Infinity;
  }
}
