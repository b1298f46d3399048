// Verified-token cache: bounded by entry count and approximate bytes, CLOCK
// eviction (a reference bit per slot, O(1) amortised, no list relinking on hits),
// and a hard expiry per entry checked on every read.

export interface TokenCacheOptions {
  /** 0 disables the cache. */
  maxEntries: number;
  /** Upper bound on the summed entry size estimates, bytes. */
  maxBytes: number;
}

export interface TokenCacheCounters {
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
}

export class TokenCache<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly counters: TokenCacheCounters = { hits: 0, misses: 0, evictions: 0, expirations: 0 };
  readonly #index = new Map<string, number>();
  #keys: (string | undefined)[] = [];
  #values: (V | undefined)[] = [];
  #expires = new Float64Array(0);
  #sizes = new Uint32Array(0);
  #ref = new Uint8Array(0);
  #free: number[] = [];
  #used = 0; // slots ever handed out (high-water mark)
  #hand = 0;
  #bytes = 0;

  constructor(opts: TokenCacheOptions) {
    this.maxEntries = Math.max(0, Math.floor(opts.maxEntries));
    this.maxBytes = Math.max(0, Math.floor(opts.maxBytes));
  }

  get size(): number { return this.#index.size; }
  get bytes(): number { return this.#bytes; }

  /** The value for `key` if present and `nowMs` < its expiry; an expired entry is dropped. */
  get(key: string, nowMs: number): V | undefined {
    const i = this.#index.get(key);
    if (i === undefined) { this.counters.misses++; return undefined; }
    if (this.#expires[i]! <= nowMs) {
      this.#drop(i);
      this.counters.expirations++;
      this.counters.misses++;
      return undefined;
    }
    this.#ref[i] = 1;
    this.counters.hits++;
    return this.#values[i];
  }

  /** Insert or replace; entries that could never fit (or already expired) are not stored. */
  set(key: string, value: V, expiresAtMs: number, bytes: number, nowMs: number): void {
    if (this.maxEntries === 0 || bytes > this.maxBytes || expiresAtMs <= nowMs) return;
    const existing = this.#index.get(key);
    if (existing !== undefined) this.#drop(existing);
    while (this.#index.size >= this.maxEntries || this.#bytes + bytes > this.maxBytes) this.#evictOne(nowMs);
    const i = this.#slot();
    this.#keys[i] = key;
    this.#values[i] = value;
    this.#expires[i] = expiresAtMs;
    this.#sizes[i] = bytes;
    this.#ref[i] = 0;
    this.#bytes += bytes;
    this.#index.set(key, i);
  }

  delete(key: string): boolean {
    const i = this.#index.get(key);
    if (i === undefined) return false;
    this.#drop(i);
    return true;
  }

  clear(): void {
    this.#index.clear();
    this.#keys = [];
    this.#values = [];
    this.#free = [];
    this.#used = 0;
    this.#hand = 0;
    this.#bytes = 0;
  }

  #slot(): number {
    const f = this.#free.pop();
    if (f !== undefined) return f;
    if (this.#used === this.#expires.length) this.#grow();
    return this.#used++;
  }

  #grow(): void {
    const cap = Math.min(this.maxEntries, Math.max(1024, this.#expires.length * 2));
    const e = new Float64Array(cap); e.set(this.#expires); this.#expires = e;
    const s = new Uint32Array(cap); s.set(this.#sizes); this.#sizes = s;
    const r = new Uint8Array(cap); r.set(this.#ref); this.#ref = r;
  }

  #drop(i: number): void {
    this.#index.delete(this.#keys[i]!);
    this.#bytes -= this.#sizes[i]!;
    this.#keys[i] = undefined;
    this.#values[i] = undefined;
    this.#sizes[i] = 0;
    this.#free.push(i);
  }

  /** CLOCK: expired entries go first, referenced ones get a second chance. */
  #evictOne(nowMs: number): void {
    for (let n = 0; n <= 2 * this.#used; n++) {
      if (this.#hand >= this.#used) this.#hand = 0;
      const i = this.#hand++;
      if (this.#keys[i] === undefined) continue;
      if (this.#expires[i]! <= nowMs) { this.#drop(i); this.counters.expirations++; return; }
      if (this.#ref[i] === 1) { this.#ref[i] = 0; continue; }
      this.#drop(i);
      this.counters.evictions++;
      return;
    }
    // unreachable while size > 0: a full sweep clears every reference bit
    throw new Error('token cache: eviction found no entry');
  }
}
