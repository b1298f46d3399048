// Bounded LRU of introspection outcomes keyed by SHA-256 hex of the token: hard expiry per entry
// checked on every read, bounded by entries and estimated bytes; refused tokens' outcomes never
// evict accepted ones, expired entries make room first. Map insertion order is the recency order (a hit re-inserts).
// An entry dies when either clock says so: its wall-clock expiry, or the life it had left when stored, on the monotonic clock.
import { runNow } from '../run-clock.js';
import { ExpiryHeap } from './expiry-heap.js';

/** An entry's place in the expiry heap: its key and expiry only, so an entry evicted before its node surfaces does not keep its value alive. */
interface ExpiryNode { readonly key: string; readonly expiresAt: number }

export interface CacheEntry<V> {
  readonly value: V;
  /** Epoch ms; the entry is dead at and after this instant. */
  readonly expiresAt: number;
  /**
   * performance.now() ms at which the entry dies whatever the wall clock says: when stored, now + (expiresAt − wall now).
   * A wall clock stepped back (NTP, a VM resumed) keeps no answer past the real time it was given (cache_ttl_s, exp).
   */
  readonly monoEnd: number;
  /** Estimated memory of the entry, bytes (counted against maxBytes). */
  readonly size: number;
  readonly node: ExpiryNode;
}

export class IntrospectionCache<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Entries `preferred` says to keep (accepted tokens), least recently used first. */
  readonly #kept = new Map<string, CacheEntry<V>>();
  /** The others (refused tokens: "inactive" and the like), least recently used first; they never push out a kept one. */
  readonly #refused = new Map<string, CacheEntry<V>>();
  readonly #preferred: (value: V) => boolean;
  readonly #mono: () => number;
  /** Every stored entry by expiry: a full cache drops its dead entries first, wherever recency order put them. */
  readonly #dying = new ExpiryHeap<ExpiryNode>((n) => n.expiresAt, (n) => (this.#kept.get(n.key) ?? this.#refused.get(n.key))?.node === n);
  #bytes = 0;
  evictions = 0;
  expirations = 0;

  /**
   * `maxEntries` 0 disables caching (every set is dropped); `maxBytes` bounds the sum of the
   * entries' sizes (default: no byte bound), so an authorization server answering 200 KiB of
   * claims per token cannot grow the cache to cache_entries × 256 KiB. `preferred` (default: every
   * value) marks the entries a flood of others must not evict: a value it rejects makes room only by
   * evicting others like it, and is not stored when preferred ones fill the cache — distinct junk
   * tokens answered "inactive" cannot push a good token's answer out. `mono`: the monotonic clock, ms
   * (default runNow, performance.now() read once per run; tests that move time pass their own).
   */
  constructor(maxEntries: number, maxBytes = Infinity, preferred: (value: V) => boolean = () => true, mono: () => number = runNow) {
    this.maxEntries = Math.max(0, Math.floor(maxEntries));
    this.maxBytes = Math.max(0, maxBytes);
    this.#preferred = preferred;
    this.#mono = mono;
  }

  get size(): number { return this.#kept.size + this.#refused.size; }

  /** Estimated bytes held. */
  get bytes(): number { return this.#bytes; }

  /** The live value for `key`, or undefined (an expired entry is dropped). */
  get(key: string, nowMs: number): V | undefined {
    let map = this.#kept;
    let e = map.get(key);
    if (e === undefined) { map = this.#refused; e = map.get(key); }
    if (e === undefined) return undefined;
    if (e.expiresAt <= nowMs || e.monoEnd <= this.#mono()) {
      this.#remove(map, key, e);
      this.expirations++;
      return undefined;
    }
    // move to the most-recent end
    map.delete(key);
    map.set(key, e);
    return e.value;
  }

  /** The live value for `key`, or undefined, leaving the recency order alone (the cluster gate's look, node/auth). */
  peek(key: string, nowMs: number): V | undefined {
    const e = this.#kept.get(key) ?? this.#refused.get(key);
    return e !== undefined && e.expiresAt > nowMs && e.monoEnd > this.#mono() ? e.value : undefined;
  }

  /**
   * Insert or replace; an entry already expired, larger than maxBytes, or with caching disabled
   * is not stored (and the key's older entry is dropped all the same). Entries make room: expired ones first (earliest expiry first,
   * wherever recency put them: O(log n) per insert), then least recently used refused ones; a
   * preferred entry evicts live preferred ones after them, a refused entry never does (false: not stored). `size`:
   * estimated bytes, default 0.
   */
  set(key: string, value: V, expiresAt: number, nowMs: number, size = 0): boolean {
    // a newer answer replaces the one cached for the token even when it is not stored itself
    // (expired on arrival, negative_ttl_s 0, too large): an "inactive" never leaves an older "active" behind
    this.delete(key);
    if (this.maxEntries === 0 || expiresAt <= nowMs || !(size <= this.maxBytes)) return false;
    const preferred = this.#preferred(value);
    while (this.size >= this.maxEntries || (this.size > 0 && this.#bytes + size > this.maxBytes)) {
      // dead entries go first, earliest expiry first, wherever they sit in recency order (else a cache holding a
      // dead accepted answer behind a live one would take no refused one, or evict the live one for an accepted one)
      const dead = this.#dying.popExpired(nowMs);
      if (dead !== undefined) {
        const e = this.#kept.get(dead.key);
        if (e?.node === dead) this.#remove(this.#kept, dead.key, e); else this.#remove(this.#refused, dead.key, this.#refused.get(dead.key)!);
        this.expirations++;
        continue;
      }
      const victims = this.#refused.size > 0 ? this.#refused : preferred ? this.#kept : null;
      if (victims === null) return false;
      const [oldest, e] = victims.entries().next().value as [string, CacheEntry<V>];
      this.#remove(victims, oldest, e);
      this.evictions++;
    }
    const node: ExpiryNode = { key, expiresAt };
    (preferred ? this.#kept : this.#refused).set(key, { value, expiresAt, monoEnd: this.#mono() + (expiresAt - nowMs), size, node });
    this.#bytes += size;
    this.#dying.push(node);
    this.#dying.compact(this.size);
    return true;
  }

  /**
   * Drop every entry whose value `match`es; returns their keys. A full scan (one pass over at most
   * maxEntries entries): for rare events (an IdP's token-claims-change), never per request.
   */
  dropWhere(match: (value: V) => boolean): string[] {
    const dropped: string[] = [];
    for (const map of [this.#kept, this.#refused]) {
      const keys: string[] = [];
      for (const [key, e] of map) if (match(e.value)) keys.push(key);
      for (const key of keys) this.#remove(map, key, map.get(key)!);
      dropped.push(...keys);
    }
    return dropped;
  }

  delete(key: string): boolean {
    let map = this.#kept;
    let e = map.get(key);
    if (e === undefined) { map = this.#refused; e = map.get(key); }
    if (e === undefined) return false;
    this.#remove(map, key, e);
    return true;
  }

  clear(): void {
    this.#kept.clear();
    this.#refused.clear();
    this.#dying.clear();
    this.#bytes = 0;
  }

  #remove(map: Map<string, CacheEntry<V>>, key: string, e: CacheEntry<V>): void {
    map.delete(key);
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
