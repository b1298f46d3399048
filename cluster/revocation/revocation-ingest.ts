// How revocations enter a member's store: records from the bus, the stream or the primary
// pass the admin API's time rules first (judged at their signing time); every entry meets the
// store's bound, and one that does not fit — or that this build cannot read — is never dropped
// silently: the member fails closed until it expires — across a restart too (the snapshot keeps the
// gate until the first whole replay of the stream rebuilds it). Used only by the revocation actor.
import type { Logger } from '../../node/log.js';
import type { MessageBus, OpenedMessage } from '../protocol/message-bus.js';
import type { RevocationRecord } from '../protocol/messages.js';
import type { ArrivalPath } from './revocation-actor-contract.js';
import { checkRevocationRecord } from './revocation-request.js';
import type { ApplyResult, RevocationStore } from './revocation-store.js';

/** What happened to a record from the bus: the store's answer, or `invalid` (refused by the admin rules). */
export type IngestResult = ApplyResult | 'invalid';

/** When the gate stays closed until, epoch ms (0: open): what the snapshot keeps across a restart. */
export interface GateTimes {
  readonly unreadableUntil: number;
  readonly overflowUntil: number;
}

/** The store, the bus (to count refusals), the rules' parameter, and where to say so. */
export interface IngestOptions {
  readonly store: RevocationStore;
  readonly bus: MessageBus;
  /** Maximum token lifetime, s: caps a record's expiry. */
  readonly maxLifetimeS: number;
  readonly logger?: Logger | undefined;
  /** Told when the gate closes or moves later (the snapshot writes it). */
  readonly onGate?: () => void;
}

/** Applies revocations to the store under the rules and the bound. */
export class RevocationIngest {
  private overflowUntil = 0;
  private unreadableUntil = 0;
  /** The gate as a snapshot kept it from before a restart: holds until the first whole replay (which rebuilds it from the stream) or its time. */
  private restored: GateTimes = { unreadableUntil: 0, overflowUntil: 0 };
  private invalidLogged = 0;
  private fullLogged = 0;
  private unreadableLogged = 0;
  private readonly counters = { revocations_refused_invalid_total: 0, revocations_capped_total: 0, revocations_unreadable_total: 0 };

  constructor(private readonly o: IngestOptions) {
    const revocations = `${o.bus.subjects.prefix}.revocations.`;
    o.bus.watchUnreadable((subject, signedAt) => { if (subject.startsWith(revocations)) this.unreadable(subject, signedAt, 'undecodable'); });
  }

  /**
   * An authentic message on a revocation subject that this build cannot read: a newer build's kind or
   * version in a rolling upgrade, or junk under the key. It may revoke any token, so the gate stays
   * closed (503, /readyz `revocations_incomplete`) until any revocation signed then has expired: its
   * signing time + the maximum token lifetime + the store's linger. Counted and logged, never silent.
   */
  unreadable(subject: string, signedAt: number | null, why: 'undecodable' | 'not_a_revocation'): void {
    this.counters.revocations_unreadable_total++;
    const until = (signedAt ?? Date.now()) + (this.o.maxLifetimeS + this.o.store.lingerS()) * 1000;
    if (until <= Date.now()) return; // signed so long ago that nothing it revoked can still be live
    if (until > this.unreadableUntil) { this.unreadableUntil = until; this.o.onGate?.(); }
    this.unreadableLogged++;
    if (this.unreadableLogged === 1 || this.unreadableLogged % 100 === 0) {
      this.o.logger?.error({ subject, why, unreadable: this.unreadableLogged, until: new Date(this.unreadableUntil).toISOString() },
        'revocation this build cannot read (a newer build\'s kind or version?): auth routes answer 503 until it could have expired; upgrade this member');
    }
  }

  /**
   * A stream message opened for replay (MessageBus.openStored, which reports one that does not decode):
   * one that decodes as another kind closes the gate as it does live. Before, replay skipped it, so a
   * member started after it served the tokens the live members refused.
   */
  openStored(subject: string, data: Uint8Array): OpenedMessage | null {
    const o = this.o.bus.openStored(subject, data);
    if (o !== null && o.msg.type !== 'revocation.added') this.unreadable(subject, o.signedAt, 'not_a_revocation');
    return o;
  }

  /** True while a revocation refused for lack of room, or one this build could not read, may still be live. */
  incomplete(): boolean {
    if (this.unreadableUntil !== 0 && this.unreadableUntil > Date.now()) return true;
    if (this.restored.unreadableUntil !== 0 && this.restored.unreadableUntil > Date.now()) return true;
    return this.overflowed();
  }

  /** The gate's times for the snapshot: the live ones and any still restored from before a restart. */
  gates(): GateTimes {
    return { unreadableUntil: Math.max(this.unreadableUntil, this.restored.unreadableUntil), overflowUntil: Math.max(this.overflowUntil, this.restored.overflowUntil) };
  }

  /**
   * The gate a snapshot kept (loaded at start, before the bus): closed as it was before the restart —
   * before, a member restarted from its snapshot while the bus was down served tokens its peers refused.
   */
  restore(g: GateTimes): void {
    const now = Date.now();
    this.restored = { unreadableUntil: g.unreadableUntil > now ? g.unreadableUntil : 0, overflowUntil: g.overflowUntil > now ? g.overflowUntil : 0 };
    if (this.restored.unreadableUntil !== 0 || this.restored.overflowUntil !== 0) {
      this.o.logger?.error({ unreadable_until: this.restored.unreadableUntil || null, overflow_until: this.restored.overflowUntil || null },
        'revocation snapshot says the gate was closed (a revocation this build cannot read, or refused for lack of room): auth routes answer 503 until the stream is replayed or it could have expired');
    }
  }

  /**
   * A replay completed (the first one after a start reads the whole stream; a catch-up reads on from there):
   * the gate is what it rebuilt, the restored one is let go — a message purged from the stream no longer holds it.
   */
  replayed(): void {
    this.restored = { unreadableUntil: 0, overflowUntil: 0 };
  }

  /**
   * A record from the bus (`signedAt` from its envelope), the stream or the primary (`signedAt`
   * null: judged now). Returns the outcome and the record as stored (its expiry possibly capped).
   */
  fromBus(raw: RevocationRecord, subject: string, signedAt: number | null, via: ArrivalPath): { readonly result: IngestResult; readonly record: RevocationRecord } {
    const checked = checkRevocationRecord(raw, { nowMs: signedAt ?? Date.now(), maxLifetimeS: this.o.maxLifetimeS });
    if (!checked.ok) {
      this.counters.revocations_refused_invalid_total++;
      this.o.bus.rejectInvalid(subject, 'revocation.added');
      this.invalidLogged++;
      if (this.invalidLogged === 1 || this.invalidLogged % 1000 === 0) {
        this.o.logger?.warn({ id: raw.id, kind: raw.kind, origin: raw.origin, via, errors: checked.errors, refused: this.invalidLogged }, 'revocation from the bus refused: fails the admin API rules');
      }
      return { result: 'invalid', record: raw };
    }
    const result = this.apply(checked.record);
    // once per revocation: its other copies (the live message, the stream's replay, the direct push) are duplicates here
    if (checked.capped && result === 'applied') this.counters.revocations_capped_total++;
    return { result, record: checked.record };
  }

  /** An entry already held to the rules (admin API, snapshot): the bound and the overflow policy only. */
  apply(r: RevocationRecord): ApplyResult {
    const res = this.o.store.apply(r);
    if (res === 'full') this.overflow(r);
    return res;
  }

  /** Why the admin API must refuse `r` (507), or null when it fits. */
  refusal(r: RevocationRecord): string | null {
    const s = this.o.store;
    if (s.hasRoom(r)) return null;
    const l = s.limits();
    return `revocation store full (${s.size} entries of cluster.revocation.max_entries ${l.maxEntries}, ~${l.bytes} of max_bytes ${l.maxBytes} bytes): revoke by sub, client_id or kid to cover many tokens with one entry, or raise the bounds on every member`;
  }

  /** True until every revocation refused for lack of room has expired (the store's linger included): the member cannot tell whether a token is revoked. */
  overflowed(): boolean {
    // read by the gate on every request: no clock read in the common case
    if (this.restored.overflowUntil !== 0 && this.restored.overflowUntil > Date.now()) return true;
    return this.overflowUntil !== 0 && this.overflowUntil > Date.now();
  }

  stats(): Record<string, number> {
    const until = Math.max(this.unreadableUntil, this.restored.unreadableUntil);
    const unreadable = until !== 0 && until > Date.now();
    return { ...this.counters, revocations_overflowed: this.overflowed() ? 1 : 0, revocations_unreadable: unreadable ? 1 : 0 };
  }

  /** Never silently: until the refused revocation expires the gate stays closed, and the log says why. */
  private overflow(r: RevocationRecord): void {
    const until = (r.expiresAt + this.o.store.lingerS()) * 1000;
    if (until > this.overflowUntil) { this.overflowUntil = until; this.o.onGate?.(); }
    this.fullLogged++;
    if (this.fullLogged === 1 || this.fullLogged % 100 === 0) {
      const s = this.o.store;
      const l = s.limits();
      this.o.logger?.error({
        id: r.id, kind: r.kind, origin: r.origin, refused: this.fullLogged, entries: s.size, max_entries: l.maxEntries, bytes: l.bytes, max_bytes: l.maxBytes,
        until: new Date(this.overflowUntil).toISOString(),
      }, 'revocation store full: a revocation was refused, auth routes answer 503 until it expires; raise cluster.revocation.max_entries/max_bytes or revoke by sub/client_id/kid');
    }
  }
}
