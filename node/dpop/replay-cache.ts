// The local record of DPoP proofs seen: key (hash of the key thumbprint and the proof's
// jti) → epoch second after which the proof is refused by its `iat` anyway. Bounded: at the
// bound the oldest entry leaves, and when it was still live every proof that expires no
// later is refused from then on (the "floor"), so eviction narrows the window, never opens a replay;
// expired entries swept raise it too, so a wall clock stepped back does not reopen one either.
// Proofs dated ahead (iat past now + AHEAD_S) are kept apart and never pushed out live, so no
// client can raise the floor past everyone's fresh proofs.

import type { ReplayClaims, ReplayVerdict } from '../contracts/index.js';

/** A proof whose iat is further ahead of now than this, s, is "dated ahead" (a fast clock, or a flood meant to raise the floor). */
export const AHEAD_S = 5;
/** Share of `max_entries` that proofs dated ahead may hold; past it a new one is refused (too_old) while they are live. */
const AHEAD_SHARE = 10;

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
  /** Proofs dated ahead, apart from `entries`: never evicted live (their expiry would make the floor refuse every fresh proof). */
  private readonly ahead = new Map<string, number>();
  /** Widest iat window, s: a proof's iat is its expiry minus this (DpopStage sets it; unset, none counts as dated ahead). */
  private windowS = Infinity;
  private floor = 0;
  private readonly counters: ReplayCacheStats = { entries: 0, replayed: 0, too_old: 0, evicted_live: 0 };

  /** The least wall − monotonic difference seen, s: a step back lowers it, a step forward never raises it. */
  private minOffset = Infinity;

  /**
   * `mono`: the monotonic clock, ms (the stage passes performance.now; default none). Given, a sweep drops an
   * entry only once the monotonic clock says it expired too: a wall clock stepped forward then back raises no
   * floor over every fresh proof (before, proofs recorded during an hour's step forward were swept there, and
   * their expiry, an hour ahead of the real time, refused every client's fresh proofs for that hour after the step back).
   */
  constructor(private maxEntries: number, private readonly mono: (() => number) | null = null, knownOffsetMs = Infinity) {
    // `knownOffsetMs`: a least wall − `mono` offset already known, ms (a worker: its primary's): one built inside a step sees it
    if (mono !== null) this.minOffset = knownOffsetMs / 1000;
  }

  /** `nowS` held back to the monotonic clock's reckoning of it (the least offset seen), epoch s. */
  private heldS(nowS: number): number {
    if (this.mono === null) return nowS;
    const m = this.mono() / 1000;
    if (nowS - m < this.minOffset) this.minOffset = nowS - m;
    return m + this.minOffset;
  }

  /** The widest iat window of any route, s (each commit): tells a proof dated ahead by its expiry. */
  setWindow(windowS: number): void {
    this.windowS = windowS;
  }

  /**
   * Records signed at `signedAtMs` were unreadable here (a newer build's): a proof one of them recorded had
   * its iat at most a window past the signing, so it expires by then + two windows (+1 s rounding): every
   * key expiring no later is refused from now on, as by an eviction's floor (without a window set yet: 600 s, the most a route allows).
   */
  lost(signedAtMs: number): void {
    const w = Number.isFinite(this.windowS) ? this.windowS : 600;
    this.floor = Math.max(this.floor, Math.ceil(signedAtMs / 1000) + 2 * w + 1);
  }

  /** Change the bound (reload); a smaller bound takes effect as entries come and go. */
  resize(maxEntries: number): void {
    this.maxEntries = maxEntries;
  }

  /**
   * Record `key` unless a live entry has it. `exp`: epoch seconds after which the proof is
   * refused by its iat; `nowS`: epoch seconds. Synchronous, O(1) amortised.
   */
  claim(key: string, exp: number, nowS: number): ReplayVerdict {
    const have = this.entries.get(key) ?? this.ahead.get(key);
    if (have !== undefined && have >= nowS) {
      this.counters.replayed++;
      return 'replayed';
    }
    if (exp <= this.floor) {
      this.counters.too_old++;
      return 'too_old';
    }
    this.sweep(nowS, 4);
    if (exp - this.windowS > nowS + AHEAD_S) {
      this.entries.delete(key);
      if (this.ahead.delete(key) || this.ahead.size < Math.max(1, Math.ceil(this.maxEntries / AHEAD_SHARE))) { this.ahead.set(key, exp); return 'fresh'; }
      this.counters.too_old++; // full of live proofs dated ahead: refusing this one touches no other client
      return 'too_old';
    }
    this.ahead.delete(key);
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
    for (const [k, exp] of this.ahead) this.ahead.set(k, exp + deltaS);
    if (this.floor > 0) this.floor += deltaS;
  }

  /** Is `key` recorded and live? (Does not record it.) */
  has(key: string, nowS: number): boolean {
    const e = this.entries.get(key) ?? this.ahead.get(key);
    return e !== undefined && e >= nowS;
  }

  /**
   * Drop expired entries from the front, at most `budget` of them. The floor rises to what they
   * expired at: a wall clock stepped back later (NTP, a VM resumed) puts a forgotten proof's iat back
   * inside the window, and the floor still refuses it (a fresh proof expires after now: untouched).
   */
  sweep(wallS: number, budget = Infinity): void {
    // the monotonic clock is read by the periodic sweep (so the offset is known before any step), and by a
    // claim's few-entry sweep only once the wall says the oldest entry expired: most claims read no clock
    let nowS = budget === Infinity ? this.heldS(wallS) : NaN;
    let b = budget;
    for (const [k, exp] of this.entries) {
      if (b-- <= 0 || exp >= wallS) break;
      if (nowS !== nowS) nowS = this.heldS(wallS);
      if (exp >= nowS) break;
      this.entries.delete(k);
      if (exp > this.floor) this.floor = exp;
    }
    for (const [k, exp] of this.ahead) {
      if (budget-- <= 0 || exp >= wallS) return;
      if (nowS !== nowS) nowS = this.heldS(wallS);
      if (exp >= nowS) return;
      this.ahead.delete(k);
      if (exp > this.floor) this.floor = exp;
    }
  }

  stats(): ReplayCacheStats {
    this.counters.entries = this.entries.size + this.ahead.size;
    return { ...this.counters };
  }

  get size(): number { return this.entries.size + this.ahead.size; }

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
