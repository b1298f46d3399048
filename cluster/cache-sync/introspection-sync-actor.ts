// The cluster-wide introspection cache: owner-based single-flight across members and
// result broadcast, so the authorization server sees one RFC 7662 call per distinct
// token per TTL however many members miss on it at once. Keys are SHA-256 hex.
//
// Why this shape: the owner cannot make the call for others (raw tokens never travel),
// so it hands out a lease instead — the asker calls, then broadcasts `cache.filled`,
// which ends the lease and answers everyone waiting. The owner of a key is chosen by
// rendezvous hashing over the live serving members (owner-view.ts): no election, no extra
// state, it works unchanged over NATS and node:cluster IPC (the hub relays worker→worker
// requests), and a departure moves only the departed member's keys. Members never fail
// a request because of the bus: an owner that cannot answer is skipped (a busy one that
// still beats is asked again, so load alone does not split ownership), a dead holder's
// lease is dropped when it leaves, and past MAX_ROUNDS the member calls the server itself.
// A result learnt from the bus is held to this member's own rules for the issuer before
// it is cached or handed on: shape, size, and a lifetime capped by `cache_ttl_s` /
// `negative_ttl_s` and the claims' `exp` (an authenticated peer still cannot pin a result).
import type { IntrospectionResult } from '../../node/contracts/index.js';
import type { Logger } from '../../node/log.js';
import type { CacheFilled } from '../protocol/cache-messages.js';
import type { BusIncoming, MessageBus } from '../protocol/message-bus.js';
import type { BusMessage } from '../protocol/messages.js';
import { boundResult, DEFAULT_TTLS } from './fill-bounds.js';
import { applyFill, type FillTarget } from './fill-apply.js';
import { FillWaits } from './fill-waits.js';
import { LeaseTable, leaseId, type LeaseAnswer } from './lease-table.js';
import { OwnerView } from './owner-view.js';
import { leaseReply } from './lease-reply.js';
import { askOwner } from './lease-request.js';
import { ResultMarks } from './result-marks.js';
import { syncStats, type SyncCounters } from './sync-stats.js';
import { DropMemory, FillsSent, dropAllLocally, dropSubjectLocally, evictLocally } from './local-drops.js';
import type { CoordinateHook, IntrospectionSyncOptions, ResultHook, SharedCacheClient } from './introspection-sync-contract.js';

// The contract's types stay importable from here (index.ts, existing importers).
export type { CoordinateHook, IntrospectionSyncOptions, ResultHook, SharedCacheClient } from './introspection-sync-contract.js';

/** Extra wait past the lease's remaining time before asking again, ms. */
const WAIT_MARGIN_MS = 100;
/** Owner round trips per lookup before the member calls the server itself. */
const MAX_ROUNDS = 5;
const HEX64 = /^[0-9a-f]{64}$/;

/** Cache-subject types whose loss lets nothing through: an unread fill is a miss, an unread release a lease that runs out. */
const HARMLESS_WHEN_UNREAD: ReadonlySet<string> = new Set(['cache.filled', 'introspection.released']);

/** One member's side of the shared introspection cache. */
export class IntrospectionSync {
  readonly memberId: string;
  private readonly bus: MessageBus;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly requestTimeoutMs: number;
  private readonly view: OwnerView;
  private readonly clients = new Map<string, SharedCacheClient>();
  private readonly leases: LeaseTable;
  private readonly waits: FillWaits;
  private readonly marks = new ResultMarks((m) => this.release(m.issuer, m.key, this.memberId, false));
  private readonly drops: DropMemory;
  private readonly fillsSent: FillsSent;
  private readonly fillTarget: FillTarget;
  private readonly unsubscribes: Array<() => void> = [];
  private sweeper: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;
  private readonly c: SyncCounters = {
    fills_sent: 0, fills_received: 0, fills_ignored: 0, evictions_sent: 0, evictions_received: 0, subject_drops_sent: 0, subject_drops_received: 0,
    calls: 0, remote_hits: 0, lease_waits: 0, released_sent: 0, owner_slow: 0, owner_failovers: 0, holder_failovers: 0, fallback_calls: 0,
    fills_capped: 0, fills_refused: 0, no_iss_v1: 0, unreadable: 0,
  };

  constructor(opts: IntrospectionSyncOptions) {
    this.memberId = opts.memberId;
    this.bus = opts.bus;
    this.log = opts.logger.child({ component: 'introspection-sync' });
    this.now = opts.now ?? Date.now;
    const mono = opts.mono ?? (() => performance.now());
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 1_000;
    this.view = new OwnerView({
      membership: opts.membership, self: opts.memberId, mono,
      graceMs: opts.departureGraceMs ?? 500, suspectMs: opts.suspectMs ?? 5_000, onDeparted: (ids) => this.departed(ids),
    });
    this.leases = new LeaseTable({ leaseMs: this.leaseMs, maxLeases: opts.maxLeases ?? 100_000, maxResults: opts.maxResults ?? 50_000, ...(opts.maxResultBytes !== undefined ? { maxResultBytes: opts.maxResultBytes } : {}), now: this.now, mono });
    this.waits = new FillWaits(mono);
    this.drops = new DropMemory(this.now);
    this.fillsSent = new FillsSent(mono); // how long ago we sent one: a duration, no wall-clock step may shorten it
    this.fillTarget = { memberId: this.memberId, leases: this.leases, waits: this.waits, clients: this.clients, log: this.log, c: this.c, now: this.now, ownerOf: (k) => this.ownerOf(k) };
  }

  /** Subscribe to fills/evictions and to this member's owner subject. Call before membership starts beating. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    const s = this.bus.subjects;
    this.view.start();
    this.unsubscribes.push(
      this.bus.subscribe(s.cacheIntrospection, (m, incoming) => this.receive(m, incoming)),
      this.bus.subscribe(s.introspectionOwner(this.memberId), (m, incoming) => this.answer(m, incoming)),
      this.bus.watchUnreadable((subject, _signedAt, type) => { if (subject === s.cacheIntrospection) this.unreadable(type); }),
      // bus gone: no fill or release can reach a waiter any more — each asks the server itself (coordinate's fallback)
      this.bus.transport.onStatus((st) => { if (st === 'disconnected') this.waits.wakeAll(); }),
    );
    this.sweeper = setInterval(() => { this.leases.sweep(); this.view.prune(); }, Math.min(5_000, Math.max(250, this.leaseMs / 2))).unref();
  }

  /**
   * Register the client of `issuer`: fills and evictions from peers reach its cache. A client that
   * replaces another (a reload changed the issuer) starts empty, so the results kept here as owner
   * under the old settings go too — a lease answered from them would hand them back; so do they when
   * the client leaves without a successor (an issuer added back later starts empty too). Returns the detach function.
   */
  attach(issuer: string, client: SharedCacheClient): () => void {
    const old = this.clients.get(issuer);
    if (old !== undefined && old !== client) this.leases.dropIssuer(issuer);
    this.clients.set(issuer, client);
    return () => { if (this.clients.get(issuer) === client) { this.clients.delete(issuer); this.leases.dropIssuer(issuer); } };
  }

  /** The `coordinate` hook for the client of `issuer`. Never rejects because of the bus; rejects only as `call` does. */
  coordinator(issuer: string): CoordinateHook {
    return (key, call) => this.coordinate(issuer, key, call);
  }

  /** The `onResult` hook for the client of `issuer`: broadcasts `cache.filled` for results this member fetched. */
  publisher(issuer: string): ResultHook {
    return (key, result) => this.publish(issuer, key, result);
  }

  /** Drop `tokenHash` from this member's caches now and from every other member's (revocation). */
  evictEverywhere(tokenHash: string): void {
    if (!HEX64.test(tokenHash)) return;
    evictLocally(this.clients.values(), this.leases, tokenHash, this.log, this.drops);
    if (!this.started || this.closed) return;
    this.bus.publish(this.bus.subjects.cacheIntrospection, { type: 'cache.evicted', v: 1, key: tokenHash, origin: this.memberId });
    this.c.evictions_sent++;
  }

  /** Drop `sub`'s cached results (of token issuer `iss`; null = any) from this member's caches now and from every other member's; how many were dropped here. */
  dropSubjectEverywhere(iss: string | null, sub: string): number {
    const n = dropSubjectLocally(this.clients.values(), this.leases, iss, sub, this.log, this.drops).length;
    if (this.started && !this.closed) {
      this.bus.publish(this.bus.subjects.cacheIntrospection, { type: 'cache.subject_dropped', v: 1, iss: iss ?? '', sub, origin: this.memberId });
      this.c.subject_drops_sent++;
    }
    return n;
  }

  /** Flat counters and gauges for /metrics. */
  stats(): Record<string, number> {
    return syncStats(this.c, this.leases, this.view.suspected);
  }

  /** Unsubscribe; lookups waiting on a peer call the server themselves. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.view.close();
    for (const u of this.unsubscribes.splice(0)) {
      try { u(); } catch { /* the transport may be gone already */ }
    }
    if (this.sweeper !== null) { clearInterval(this.sweeper); this.sweeper = null; }
    this.marks.clear();
    this.waits.wakeAll();
    this.leases.clear();
    this.clients.clear();
  }

  /** Owner of `key`: rendezvous over the live serving members minus unanswering ones; self when none is left. */
  ownerOf(key: string): string {
    return this.view.ownerOf(key);
  }

  private async coordinate(issuer: string, key: string, call: () => Promise<IntrospectionResult>): Promise<IntrospectionResult> {
    if (!this.started || this.closed || !HEX64.test(key) || !this.bus.transport.isConnected()) return this.fallback(call);
    const id = leaseId(issuer, key);
    const w = this.waits.watch(id);
    try {
      for (let round = 0; round < MAX_ROUNDS && !this.closed && this.bus.transport.isConnected(); round++) {
        if (w.result !== null) return this.remoteHit(id, issuer, key, w.result);
        if (w.failed) break; // the holder's call failed: ask the server ourselves rather than queue behind it
        const owner = this.ownerOf(key);
        w.owner = owner;
        const seen = w.released;
        let a: LeaseAnswer;
        if (owner === this.memberId) a = this.leases.acquire(id, owner);
        else {
          const asked = await this.ask(owner, issuer, key);
          if (asked === 'slow') {
            // Busy, not gone (it still beats): ask it again rather than call beside it.
            if (this.view.heardFrom(owner)) { this.c.owner_slow++; continue; }
            this.suspect(owner);
            continue;
          }
          if (asked === null) { this.suspect(owner); continue; }
          a = asked;
        }
        switch (a.status) {
          case 'cached':
            // an inactive answer seen here (the fill sharing it came before we listened): active fills signed before now are older
            if (!a.result.active) this.drops.noteInactive(key, this.now());
            return this.remoteHit(id, issuer, key, a.result);
          case 'granted': return await this.callServer(id, issuer, key, call);
          case 'pending':
            this.c.lease_waits++;
            // A fill, a release or the owner's departure may have overtaken its answer (the bus
            // delivers them in one batch, before this continuation runs): then do not wait.
            if (!this.view.isCandidate(owner)) { this.c.owner_failovers++; break; }
            if (w.result === null && w.released === seen && this.bus.transport.isConnected()) await this.waits.wait(w, a.waitMs + WAIT_MARGIN_MS);
            break;
          default: { const never: never = a; return never; }
        }
      }
      if (w.result !== null) return this.remoteHit(id, issuer, key, w.result);
    } finally {
      this.waits.unwatch(w);
    }
    return this.fallback(call);
  }

  /** Ask `owner` for a lease (lease-request.ts); a cached result is held to this member's rules for `issuer`. */
  private ask(owner: string, issuer: string, key: string): Promise<LeaseAnswer | 'slow' | null> {
    return askOwner(this.bus, { owner, issuer, key, member: this.memberId, timeoutMs: this.requestTimeoutMs, leaseMs: this.leaseMs }, this.now,
      (r, subject, type) => this.bound(issuer, r, null, subject, type), this.log, () => { this.c.no_iss_v1++; });
  }

  /** Holding the lease: call the server; on failure tell waiters at once. */
  private async callServer(id: string, issuer: string, key: string, call: () => Promise<IntrospectionResult>): Promise<IntrospectionResult> {
    this.c.calls++;
    let result: IntrospectionResult;
    try {
      result = await call();
    } catch (err) {
      this.release(issuer, key, this.memberId, true);
      throw err;
    }
    this.marks.set(id, { kind: 'granted', issuer, key });
    return result;
  }

  private remoteHit(id: string, issuer: string, key: string, result: IntrospectionResult): IntrospectionResult {
    this.c.remote_hits++;
    this.marks.set(id, { kind: 'remote', issuer, key });
    return result;
  }

  private fallback(call: () => Promise<IntrospectionResult>): Promise<IntrospectionResult> {
    this.c.fallback_calls++;
    return call();
  }

  private publish(issuer: string, key: string, result: IntrospectionResult): void {
    const id = leaseId(issuer, key);
    const m = this.marks.take(id);
    if (m?.kind === 'remote') return; // learnt from a peer: everyone has it already
    if (!this.started || this.closed || !HEX64.test(key)) return;
    // not cacheable (a TTL of 0, an `exp` already past): nothing to share — waiters ask the server themselves, now
    if (result.expiresAt <= this.now()) { if (m?.kind === 'granted') this.release(issuer, key, this.memberId, true); return; }
    const msg: CacheFilled = {
      type: 'cache.filled', v: result.issFilled === true ? 2 : 1, key, issuer, active: result.active, claims: result.claims, expiresAt: result.expiresAt, origin: this.memberId,
    };
    if (!result.active) this.drops.noteInactive(key, this.now());
    applyFill(this.fillTarget, msg, result);
    this.bus.publish(this.bus.subjects.cacheIntrospection, msg);
    this.fillsSent.note(key);
    this.c.fills_sent++;
  }

  private release(issuer: string, key: string, holder: string, failed: boolean): void {
    const id = leaseId(issuer, key);
    this.leases.release(id, holder);
    this.waits.released(id, failed);
    if (!this.started || this.closed) return;
    this.bus.publish(this.bus.subjects.cacheIntrospection, { type: 'introspection.released', v: 1, key, issuer, member: holder, failed, origin: this.memberId });
    this.c.released_sent++;
  }

  /**
   * An authentic message on the cache subject this build cannot read (a newer build's): unless it names a
   * type whose loss only costs a lookup (a fill, a lease release), it may have been an eviction or a
   * subject drop — a logout the cache here would otherwise keep answering for until the TTL. Every result
   * cached here goes instead (the next request asks the owner or the authorization server again).
   */
  private unreadable(type: string | null): void {
    if (this.closed || (type !== null && HARMLESS_WHEN_UNREAD.has(type))) return;
    this.c.unreadable++;
    const dropped = dropAllLocally(this.clients.values(), this.leases, this.log, this.drops);
    if (this.c.unreadable === 1 || this.c.unreadable % 100 === 0) {
      this.log.error({ type, unreadable: this.c.unreadable, dropped },
        'introspection cache message this build cannot read (a newer build\'s eviction?): every cached introspection result dropped; upgrade this member');
    }
  }

  private receive(m: BusMessage, incoming: BusIncoming): void {
    if (this.closed) return;
    switch (m.type) {
      case 'cache.filled': {
        if (m.origin === this.memberId) return; // our own were applied when sent
        // signed before a drop of its token or subject here: a replay (or overtaken): not put back
        // … or an active answer older than an inactive one seen here (never turned back)
        if (this.drops.overtaken(m.key, m.claims, incoming.signedAt) || (m.active && this.drops.beforeInactive(m.key, incoming.signedAt))) {
          this.c.fills_refused++; this.bus.rejectInvalid(incoming.subject, m.type); this.refused(m); return;
        }
        // an older build's active answer without `iss` (v1): maybe refused by its sharer under require_iss, or under an
        // issuer name that means another issuer there — never taken as ours: it ends its lease, waiters ask the server
        if (m.v === 1 && m.active && m.claims !== null && m.claims.iss === undefined) { this.c.no_iss_v1++; this.refused(m); return; }
        const result = this.bound(m.issuer, { active: m.active, claims: m.claims, expiresAt: m.expiresAt, issFilled: m.v === 2 }, incoming.signedAt, incoming.subject, m.type);
        // unusable here (malformed, or an issuer this member does not serve): it still ends its sender's lease
        if (result === null) { this.refused(m); return; }
        if (!m.active && incoming.signedAt !== null) this.drops.noteInactive(m.key, incoming.signedAt);
        applyFill(this.fillTarget, m, result);
        return;
      }
      case 'cache.subject_dropped':
        if (m.origin === this.memberId) return;
        this.c.subject_drops_received++;
        for (const key of dropSubjectLocally(this.clients.values(), this.leases, m.iss === '' ? null : m.iss, m.sub, this.log, this.drops)) {
          // our fill of it overtook this drop on the bus: members that dropped first have taken it back
          if (this.fillsSent.sent(key)) this.evictEverywhere(key);
        }
        return;
      case 'cache.evicted':
        if (m.origin === this.memberId) return;
        this.c.evictions_received++;
        evictLocally(this.clients.values(), this.leases, m.key, this.log, this.drops);
        return;
      case 'introspection.released': {
        if (m.origin === this.memberId) return;
        const id = leaseId(m.issuer, m.key);
        this.leases.release(id, m.member);
        this.waits.released(id, m.failed);
        return;
      }
      default:
        return;
    }
  }

  /**
   * A refused fill still ends its sender's lease: held here (we own the key), it goes and every member hears so, as
   * when a holder leaves; waiters here ask again. Before, they sat out the rest of the lease (10 s by default) — a
   * legitimate fill is refused when its sender's clock lags the inactive answer or drop it is judged against.
   */
  private refused(m: CacheFilled): void {
    const id = leaseId(m.issuer, m.key);
    if (this.leases.release(id, m.origin)) this.release(m.issuer, m.key, m.origin, false);
    else this.waits.released(id, false);
  }

  /** Owner side: answer a lease request. */
  private answer(m: BusMessage, incoming: BusIncoming): void {
    if (this.closed || m.type !== 'introspection.lease' || !incoming.isRequest) return;
    this.bus.respond(incoming, leaseReply(m.key, this.leases.acquire(leaseId(m.issuer, m.key), m.member)));
  }

  /** A result from a peer held to this member's rules for `issuer` (fill-bounds.ts); null (counted) when unusable or the issuer is not ours. */
  private bound(issuer: string, r: IntrospectionResult, signedAt: number | null, subject: string, type: string): IntrospectionResult | null {
    const client = this.clients.get(issuer);
    if (client === undefined) { this.c.fills_ignored++; return null; }
    const b = boundResult(r, client.resultBounds?.() ?? DEFAULT_TTLS, this.now(), signedAt);
    if (b === 'invalid') {
      this.c.fills_refused++;
      this.bus.rejectInvalid(subject, type);
      return null;
    }
    if (b.capped) this.c.fills_capped++;
    return b.result;
  }

  private departed(departed: ReadonlySet<string>): void {
    if (this.closed) return;
    // Leases held by a departed member will never be filled: free them and tell waiters everywhere.
    for (const { id, holder } of this.leases.dropHolders(departed)) {
      this.c.holder_failovers++;
      const nl = id.indexOf('\n');
      this.release(id.slice(0, nl), id.slice(nl + 1), holder, false);
    }
    this.c.owner_failovers += this.waits.ownersGone(departed);
  }

  private suspect(owner: string): void {
    if (owner === this.memberId) return;
    this.view.suspect(owner);
    this.c.owner_failovers++;
  }
}
