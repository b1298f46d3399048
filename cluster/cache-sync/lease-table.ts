// The owner's side of single-flight: for the token keys this member owns, who holds the lease to call
// the authorization server, until when, and the results already learnt (so a late asker gets them
// without a call). Synchronous, bounded (inactive results never push out active ones), expiry on read.
import type { IntrospectionResult } from '../../node/contracts/index.js';
import { ExpiryHeap, resultSize } from '../../node/introspection/index.js';

/** The owner's answer to "may I introspect this token?". */
export type LeaseAnswer =
  | { readonly status: 'granted' }
  | { readonly status: 'pending'; readonly waitMs: number }
  | { readonly status: 'cached'; readonly result: IntrospectionResult };

interface Lease {
  readonly holder: string;
  /** Monotonic ms. */
  readonly until: number;
}

/** Construction options (bounds are entry counts unless named bytes; times are ms). */
export interface LeaseTableOptions {
  readonly leaseMs: number;
  readonly maxLeases: number;
  readonly maxResults: number;
  /** Estimated bytes of kept results (claims JSON + overhead, resultSize); default 64 MiB. */
  readonly maxResultBytes?: number;
  /** Wall clock, epoch ms: results' expiresAt (a token's exp). */
  readonly now: () => number;
  /** Monotonic clock, ms (default performance.now): lease deadlines, which no wall-clock step may stretch or cut. */
  readonly mono?: () => number;
}

/** Default bound of kept results' memory: an AS answering 200 KiB of claims must not make 50 000 of them 10 GB. */
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024 * 1024; // 64 MiB

/** A kept result's place in the expiry heap: id and expiry only, so a result dropped before its node surfaces is not held there. */
interface ExpiryNode { readonly id: string; readonly expiresAt: number }

/**
 * `monoEnd`: the monotonic ms at which the result dies whatever the wall clock says — when kept, mono + (expiresAt − now):
 * a wall clock stepped back (NTP, a VM resumed) serves no result to askers past the real time it was given.
 */
interface Kept { readonly result: IntrospectionResult; readonly size: number; readonly node: ExpiryNode; readonly monoEnd: number }

/** Lease id: issuer and key, so one token string under two issuers never shares a lease. */
export function leaseId(issuer: string, key: string): string {
  return `${issuer}\n${key}`;
}

/** Leases and kept results, keyed by `leaseId`. */
export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  /** Active results, oldest first. */
  private readonly results = new Map<string, Kept>();
  /** Inactive ones ("active": false, a flood of junk tokens), oldest first: they make room only among themselves. */
  private readonly inactive = new Map<string, Kept>();
  /** Kept results by expiry: a full table drops its dead ones first, wherever insertion order put them. */
  private readonly dying = new ExpiryHeap<ExpiryNode>((n) => n.expiresAt, (n) => (this.results.get(n.id) ?? this.inactive.get(n.id))?.node === n);
  private resultBytes = 0;
  private readonly issuers = new Set<string>();
  readonly counters = { granted: 0, pending: 0, cached: 0, expired: 0, unrecorded: 0 };

  private readonly mono: () => number;

  constructor(private readonly opts: LeaseTableOptions) {
    this.mono = opts.mono ?? (() => performance.now());
  }

  get size(): number { return this.leases.size; }
  get kept(): number { return this.results.size + this.inactive.size; }

  /**
   * Answer `member`: a live result → cached; a live lease of another member → pending
   * (with the time it still runs); else the lease is `member`'s (asking again renews it).
   */
  acquire(id: string, member: string): LeaseAnswer {
    const k = this.results.get(id) ?? this.inactive.get(id);
    const now = this.mono();
    if (k !== undefined) {
      const wall = this.opts.now();
      if (k.result.expiresAt > wall && k.monoEnd > now) {
        this.counters.cached++;
        // its expiry restated on the wall clock as it reads now: a step back since it was kept gives the asker no more time
        // (a second's slack: the two clocks drift apart by microseconds between two readings)
        const left = wall + (k.monoEnd - now);
        return { status: 'cached', result: left + 1000 >= k.result.expiresAt ? k.result : { ...k.result, expiresAt: Math.floor(left) } };
      }
      this.drop(id);
    }
    const l = this.leases.get(id);
    if (l !== undefined && l.until > now && l.holder !== member) {
      this.counters.pending++;
      return { status: 'pending', waitMs: Math.max(0, Math.ceil(l.until - now)) };
    }
    if (l !== undefined && l.until <= now) this.counters.expired++;
    this.leases.delete(id);
    // Full: grant without recording (single-flight degrades to one call per asker, never a refusal).
    if (this.leases.size >= this.opts.maxLeases) this.sweep();
    if (this.leases.size < this.opts.maxLeases) this.leases.set(id, { holder: member, until: now + this.opts.leaseMs });
    else this.counters.unrecorded++;
    this.counters.granted++;
    return { status: 'granted' };
  }

  /** Is a live lease held on `id`? */
  leased(id: string): boolean {
    const l = this.leases.get(id);
    return l !== undefined && l.until > this.mono();
  }

  /** A result arrived: the lease ends; the result is kept for late askers when `keep`. */
  complete(id: string, issuer: string, result: IntrospectionResult, keep: boolean): void {
    this.leases.delete(id);
    // the older result goes even when this one is not kept (expired on arrival: negative_ttl_s 0)
    this.drop(id);
    const wallAtKeep = this.opts.now();
    if (!keep || result.expiresAt <= wallAtKeep) return;
    const size = resultSize(result.claims);
    const maxBytes = this.opts.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    if (!(size <= maxBytes)) return;
    // expired ones first, wherever they sit (else a dead active result kept after a live one would keep out every inactive
    // one); then oldest first (insertion order), inactive ones before any active one. An inactive result finding only
    // live active ones is not kept: junk never pushes a good token's answer out
    while (this.kept > 0 && (this.kept >= this.opts.maxResults || this.resultBytes + size > maxBytes)) {
      const dead = this.dying.popExpired(this.opts.now());
      if (dead !== undefined) { this.drop(dead.id); continue; }
      const victims = this.inactive.size > 0 ? this.inactive : result.active ? this.results : null;
      if (victims === null) return;
      this.drop(victims.keys().next().value as string);
    }
    const node: ExpiryNode = { id, expiresAt: result.expiresAt };
    (result.active ? this.results : this.inactive).set(id, { result, size, node, monoEnd: this.mono() + (result.expiresAt - wallAtKeep) });
    this.resultBytes += size;
    this.dying.push(node);
    this.dying.compact(this.kept);
    this.issuers.add(issuer);
  }

  /** End `member`'s lease on `id` (no result); false when someone else holds it or none. */
  release(id: string, member: string): boolean {
    const l = this.leases.get(id);
    if (l === undefined || l.holder !== member) return false;
    this.leases.delete(id);
    return true;
  }

  /** Drop every lease held by a departed member; returns them. */
  dropHolders(departed: ReadonlySet<string>): Array<{ readonly id: string; readonly holder: string }> {
    const out: Array<{ id: string; holder: string }> = [];
    if (departed.size === 0) return out;
    for (const [id, l] of this.leases) if (departed.has(l.holder)) { this.leases.delete(id); out.push({ id, holder: l.holder }); }
    return out;
  }

  /** Drop kept results whose claims name `sub` (an IdP's token-claims-change; a scan, rare). */
  dropSubject(sub: string): void {
    for (const [id, k] of this.results) if (k.result.claims !== null && k.result.claims.sub === sub) this.drop(id);
  }

  /** Forget every kept result of `issuer` (a reload replaced its client); leases stand, their holders still fill or release them. */
  dropIssuer(issuer: string): void {
    const prefix = leaseId(issuer, '');
    for (const id of [...this.results.keys(), ...this.inactive.keys()]) if (id.startsWith(prefix)) this.drop(id);
  }

  /** Forget every kept result (an eviction this build could not read); leases stand, their holders still fill or release them. */
  dropResults(): void {
    this.results.clear();
    this.inactive.clear();
    this.dying.clear();
    this.resultBytes = 0;
  }

  /** Forget the kept result of `key` under every issuer (revocation). */
  evict(key: string): void {
    for (const issuer of this.issuers) this.drop(leaseId(issuer, key));
  }

  /** Remove expired leases and results; returns how many leases expired. */
  sweep(): number {
    const mono = this.mono();
    let n = 0;
    for (const [id, l] of this.leases) if (l.until <= mono) { this.leases.delete(id); n++; }
    const now = this.opts.now();
    for (const map of [this.results, this.inactive]) for (const [id, k] of map) if (k.result.expiresAt <= now || k.monoEnd <= mono) this.drop(id);
    this.counters.expired += n;
    return n;
  }

  clear(): void {
    this.leases.clear();
    this.results.clear();
    this.inactive.clear();
    this.dying.clear();
    this.resultBytes = 0;
  }

  private drop(id: string): void {
    const map = this.results.has(id) ? this.results : this.inactive;
    const k = map.get(id);
    if (k === undefined) return;
    map.delete(id);
    this.resultBytes -= k.size;
  }
}
