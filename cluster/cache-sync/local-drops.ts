// Dropping cached introspection results at this member: one token (a `cache.evicted` from any
// member, or our own eviction) or every token of a subject (`cache.subject_dropped`, an IdP's
// token-claims-change). Both clear the registered clients' caches and the results this member
// keeps as a key's owner, or a peer's next lease would get the dropped answer back. Each drop is
// remembered (DropMemory): a fill signed before it — replayed, or overtaken — must not put it back;
// so is the newest inactive result per key: an active fill signed before it is older news (a replay).
import type { Logger } from '../../node/log.js';
import type { SharedCacheClient } from './introspection-sync-contract.js';
import type { LeaseTable } from './lease-table.js';

/** How long a drop is remembered, ms: past the longest `cluster.auth.max_age_ms` (10 min), so no fill signed before it is still fresh. */
export const DROP_MEMORY_MS = 660_000;
/** Most drops remembered (keys and subjects each); past it, every fill signed before the oldest one forgotten is refused (fail closed). */
export const MAX_REMEMBERED_DROPS = 10_000;

/** When tokens (by key) and subjects were dropped here. */
export class DropMemory {
  private readonly keys = new Map<string, number>();
  private readonly subs = new Map<string, number>();
  /** Fills signed at or before this are refused: drops forgotten because the memory was full. */
  private floor = 0;
  /** Newest inactive result per key, epoch ms (a peer's fill: its signing time; ours: when fetched). */
  private readonly results = new Map<string, number>();
  /** Active fills signed before this are refused: inactive results forgotten because the memory was full. */
  private resultFloor = 0;

  constructor(private readonly now: () => number) {}

  /**
   * Was a fill of `key` carrying `claims` (its `sub`), signed at `signedAt` (epoch ms; null on an
   * unauthenticated transport: not judged), signed at or before a drop of its key or subject here?
   * Then it holds a result that was dropped (a capture replayed within max_age_ms, or one overtaken
   * by the drop) — refused; the cost of a refusal is one more introspection.
   */
  overtaken(key: string, claims: Readonly<Record<string, unknown>> | null, signedAt: number | null): boolean {
    if (signedAt === null) return false;
    if (signedAt <= this.floor || signedAt <= (this.keys.get(key) ?? -1)) return true;
    const sub = claims?.sub;
    return typeof sub === 'string' && signedAt <= (this.subs.get(sub) ?? -1);
  }

  /**
   * Is an active fill of `key` signed at `signedAt` (null: not judged) older than an inactive result seen
   * here? Then the newer answer (a member asked the authorization server later) stands: before, a
   * captured active fill replayed within max_age_ms made an inactive token active again.
   */
  beforeInactive(key: string, signedAt: number | null): boolean {
    return signedAt !== null && (signedAt < this.resultFloor || signedAt < (this.results.get(key) ?? -1));
  }

  /** An inactive result for `key` as of `at` (epoch ms) was seen here. */
  noteInactive(key: string, at: number): void {
    if (at <= (this.results.get(key) ?? -1)) return;
    this.results.delete(key);
    this.results.set(key, at); // roughly age order: peers' clocks differ by little
    this.resultFloor = Math.max(this.resultFloor, this.prune(this.results, this.now()));
  }

  /** Everything was dropped now: every fill signed until now is refused. */
  noteAll(): void {
    this.floor = Math.max(this.floor, this.now());
  }

  /** Remember that `id` (a key, or a subject when `subject`) was dropped now. */
  note(id: string, subject: boolean): void {
    const map = subject ? this.subs : this.keys;
    const t = this.now();
    map.delete(id);
    map.set(id, t); // insertion order is age order
    this.floor = Math.max(this.floor, this.prune(this.keys, t), this.prune(this.subs, t));
  }

  /** Forget entries older than DROP_MEMORY_MS and those past the bound; returns the newest time forgotten early (0: none). */
  private prune(map: Map<string, number>, t: number): number {
    let floor = 0;
    for (const [k, at] of map) {
      if (at + DROP_MEMORY_MS > t && map.size <= MAX_REMEMBERED_DROPS) break;
      map.delete(k);
      if (at + DROP_MEMORY_MS > t) floor = Math.max(floor, at);
    }
    return floor;
  }
}

/** Evict `key` from every client's cache and the lease table; `drops` remembers it. */
export function evictLocally(clients: Iterable<SharedCacheClient>, leases: LeaseTable, key: string, log: Logger, drops: DropMemory): void {
  drops.note(key, false);
  for (const client of clients) {
    try { client.evict(key); } catch (err) { log.error({ err }, 'introspection cache evict failed'); }
  }
  leases.evict(key);
}

/** Drop every cached result here (an eviction this build could not read); how many went. `drops` refuses every fill signed before. */
export function dropAllLocally(clients: Iterable<SharedCacheClient>, leases: LeaseTable, log: Logger, drops: DropMemory): number {
  drops.noteAll();
  let n = 0;
  for (const client of clients) {
    try { n += client.dropAll?.() ?? 0; } catch (err) { log.error({ err }, 'introspection cache drop failed'); }
  }
  leases.dropResults();
  return n;
}

/** Drop `sub`'s results (of token issuer `iss`; null = any) here; the keys of the cached results that went. `drops` remembers it. */
export function dropSubjectLocally(clients: Iterable<SharedCacheClient>, leases: LeaseTable, iss: string | null, sub: string, log: Logger, drops: DropMemory): string[] {
  drops.note(sub, true);
  const keys: string[] = [];
  for (const client of clients) {
    try {
      for (const key of client.dropSubject?.(iss, sub) ?? []) { leases.evict(key); keys.push(key); }
    } catch (err) { log.error({ err }, 'introspection cache subject drop failed'); }
  }
  leases.dropSubject(sub);
  return keys;
}

/**
 * When this member last sent a fill of each key (monotonic ms: before, on the wall clock, a step forward past
 * DROP_MEMORY_MS forgot the fills just sent, and a drop they overtook no longer evicted them everywhere). A peer's drop
 * reaching us after a fill we sent may mean peers that dropped first took that fill after their drop
 * — its answer may predate the drop — so we evict every key of ours it drops everywhere.
 * Past MAX_REMEMBERED_DROPS fills within DROP_MEMORY_MS (a flood of distinct tokens) the oldest are
 * forgotten and, for DROP_MEMORY_MS after the newest forgotten one, every key counts as sent (fail
 * closed: one eviction more, not an old answer kept until cache_ttl_s).
 */
export class FillsSent {
  private readonly at = new Map<string, number>();
  /** The newest fill forgotten because the memory was full (0: none). */
  private floor = 0;

  constructor(private readonly now: () => number) {}

  /** A fill of `key` was sent now. */
  note(key: string): void {
    const t = this.now();
    this.at.delete(key);
    this.at.set(key, t); // insertion order is age order
    for (const [k, s] of this.at) {
      if (s + DROP_MEMORY_MS > t && this.at.size <= MAX_REMEMBERED_DROPS) break;
      this.at.delete(k);
      if (s + DROP_MEMORY_MS > t) this.floor = Math.max(this.floor, s);
    }
  }

  /**
   * Did we send a fill of `key` within DROP_MEMORY_MS (or may we have: past the memory's bound, any key)? Its time
   * is not compared with the drop's signing time: the two are different members' clocks, and a skew between them
   * hid a fill that overtook the drop; evicting a key the drop empties everywhere anyway costs one lookup more.
   */
  sent(key: string): boolean {
    if (this.at.has(key)) return this.at.get(key)! + DROP_MEMORY_MS > this.now();
    return this.floor > 0 && this.floor + DROP_MEMORY_MS > this.now();
  }
}
