// Verified-token cache: bounded by entry count and approximate bytes, CLOCK
// eviction (a reference bit per slot, O(1) amortised, no list relinking on hits),
// and a hard expiry per entry checked on every read. The key index is an open-addressing
// table in an Int32Array (off the JS heap) rather than a Map, whose tables churn young.

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

const EMPTY = -1;
const TOMBSTONE = -2;

/** Index positions for `slots` slots: a power of two, at least twice as many (load ≤ 3/4 with tombstones). */
function tableSize(slots: number): number {
  let n = 16;
  while (n < slots * 2) n *= 2;
  return n;
}

/** FNV-1a over the first 16 chars and the length: keys are SHA-256 hex of verified tokens, whose prefix is already uniform. */
function hashOf(key: string): number {
  let h = 0x811c9dc5 ^ key.length;
  const n = Math.min(key.length, 16);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff; // a small integer (never a boxed number), non-negative
}

export class TokenCache<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly counters: TokenCacheCounters = { hits: 0, misses: 0, evictions: 0, expirations: 0 };
  /** key → slot: linear probing; EMPTY, TOMBSTONE or a slot number; size a power of two ≥ 2 × slots. */
  #table = new Int32Array(0);
  /** The previous table, reused by the next same-size rebuild (no allocation per rebuild). */
  #spare = new Int32Array(0);
  #tombstones = 0;
  #count = 0;
  #keys: (string | undefined)[] = [];
  #values: (V | undefined)[] = [];
  #expires = new Float64Array(0);
  #sizes = new Uint32Array(0);
  #ref = new Uint8Array(0);
  #free: number[] = [];
  #used = 0; // slots ever handed out (high-water mark)
  #hand = 0;
  #bytes = 0;
  /** The key `get` last found absent; cleared by every `set`, so `set` of it right after that miss need not probe again. */
  #absent: string | undefined = undefined;

  constructor(opts: TokenCacheOptions) {
    this.maxEntries = Math.max(0, Math.floor(opts.maxEntries));
    this.maxBytes = Math.max(0, Math.floor(opts.maxBytes));
  }

  get size(): number { return this.#count; }
  get bytes(): number { return this.#bytes; }

  /** The value for `key` if present and `nowMs` < its expiry; an expired entry is dropped. */
  get(key: string, nowMs: number): V | undefined {
    const i = this.#find(key);
    if (i < 0) { this.counters.misses++; this.#absent = key; return undefined; }
    if (this.#expires[i]! <= nowMs) {
      this.#drop(i);
      this.counters.expirations++;
      this.counters.misses++;
      this.#absent = key;
      return undefined;
    }
    this.#ref[i] = 1;
    this.counters.hits++;
    return this.#values[i];
  }

  /** The value for `key` if present and `nowMs` < its expiry, neither counted nor marked used (the cluster gate's look, node/auth). */
  peek(key: string, nowMs: number): V | undefined {
    const i = this.#find(key);
    return i >= 0 && this.#expires[i]! > nowMs ? this.#values[i] : undefined;
  }

  /** Insert or replace; entries that could never fit (or already expired) are not stored. */
  set(key: string, value: V, expiresAtMs: number, bytes: number, nowMs: number): void {
    // only a set can add a key: the one `get` just missed is still absent if no set ran since (the verifier's miss → insert)
    const existing = key === this.#absent ? -1 : this.#find(key);
    this.#absent = undefined;
    if (this.maxEntries === 0 || bytes > this.maxBytes || expiresAtMs <= nowMs) return;
    if (existing >= 0) this.#drop(existing);
    while (this.#count >= this.maxEntries || this.#bytes + bytes > this.maxBytes) this.#evictOne(nowMs);
    const i = this.#slot();
    this.#keys[i] = key;
    this.#values[i] = value;
    this.#expires[i] = expiresAtMs;
    this.#sizes[i] = bytes;
    this.#ref[i] = 0;
    this.#bytes += bytes;
    this.#insert(key, i);
  }

  delete(key: string): boolean {
    const i = this.#find(key);
    if (i < 0) return false;
    this.#drop(i);
    return true;
  }

  clear(): void {
    this.#table.fill(EMPTY);
    this.#tombstones = 0;
    this.#count = 0;
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
    this.#rebuild(tableSize(cap));
  }

  /** The slot holding `key`, or -1. */
  #find(key: string): number {
    const t = this.#table;
    if (t.length === 0) return -1;
    const mask = t.length - 1;
    for (let p = hashOf(key) & mask; ; p = (p + 1) & mask) {
      const s = t[p]!;
      if (s === EMPTY) return -1;
      if (s >= 0 && this.#keys[s] === key) return s;
    }
  }

  /** Index `key` (known absent) at `slot`: the first free or deleted position of its probe sequence. */
  #insert(key: string, slot: number): void {
    if ((this.#count + 1 + this.#tombstones) * 4 > this.#table.length * 3) this.#rebuild(Math.max(16, this.#table.length));
    const t = this.#table;
    const mask = t.length - 1;
    let p = hashOf(key) & mask;
    while (t[p]! >= 0) p = (p + 1) & mask;
    if (t[p] === TOMBSTONE) this.#tombstones--;
    t[p] = slot;
    this.#count++;
  }

  /** Unindex slot `i` (whose key is `key`). */
  #unindex(key: string, i: number): void {
    const t = this.#table;
    const mask = t.length - 1;
    let p = hashOf(key) & mask;
    while (t[p] !== i) p = (p + 1) & mask;
    t[p] = TOMBSTONE;
    this.#tombstones++;
    this.#count--;
  }

  /** A fresh table of `size` positions holding every live slot (drops the tombstones). */
  #rebuild(size: number): void {
    const t = this.#spare.length === size ? this.#spare : new Int32Array(size);
    t.fill(EMPTY);
    const mask = size - 1;
    for (let i = 0; i < this.#used; i++) {
      const k = this.#keys[i];
      if (k === undefined) continue;
      let p = hashOf(k) & mask;
      while (t[p] !== EMPTY) p = (p + 1) & mask;
      t[p] = i;
    }
    this.#spare = this.#table;
    this.#table = t;
    this.#tombstones = 0;
  }

  #drop(i: number): void {
    this.#unindex(this.#keys[i]!, i);
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
