// Which revocations the stream must still hold: the stream sequence each unexpired revocation was
// last stored at. A stream whose first sequence has passed one of them (emptied early by a max age,
// limit or purge someone with NATS credentials set), that took its sequence out of the middle (a
// single delete, a filtered purge), or that was made anew, lost it; so did one
// that, replayed whole, did not hold a revocation this member loaded from its snapshot.
import { DEFAULT_LINGER_S } from './revocation-linger.js';

/**
 * A revocation matters until its expiry plus the store's linger (twice the largest clock skew); the
 * stream legitimately keeps it STREAM_AGE_MARGIN_S (23 min) past its lifetime, later than that.
 * Losses within 2 min of the end of that span are ignored (clock differences between hosts).
 */
const SLACK_MS = 120_000;

/** Sequence of each revocation id in the current stream, in sequence order (map insertion order). */
export class StreamCoverage {
  private readonly seqOf = new Map<string, { readonly seq: number; readonly expiresAtMs: number }>();
  /** Loaded from the snapshot, not yet delivered by the stream: expiry, epoch ms. */
  private readonly unseen = new Map<string, number>();

  /** `lingerS`: seconds an entry is still needed past its expiry (default 120 s), read at every check. */
  constructor(private readonly lingerS: () => number = () => DEFAULT_LINGER_S) {}

  /** Is an entry expiring at `expiresAtMs` still needed at `nowMs` (beyond the slack)? */
  private needed(expiresAtMs: number, nowMs: number): boolean {
    return expiresAtMs + this.lingerS() * 1000 > nowMs + SLACK_MS;
  }

  /** `id` was delivered from stream sequence `seq`; `expiresAtS` its expiry, epoch seconds. Re-tracking moves it to its newer sequence. */
  track(id: string, seq: number, expiresAtS: number): void {
    this.unseen.delete(id);
    this.seqOf.delete(id);
    this.seqOf.set(id, { seq, expiresAtMs: expiresAtS * 1000 });
  }

  /**
   * Ids stored below `firstSeq` that cannot have aged out by `nowMs` (their expiry plus the linger
   * is more than 2 min away): the stream lost them. Expired ones below it are forgotten; the lost ones are kept
   * until stored again (a failed re-store is found again at the next check). O(entries below `firstSeq`).
   */
  lostBelow(firstSeq: number, nowMs: number): string[] {
    const lost: string[] = [];
    for (const [id, e] of this.seqOf) {
      if (e.seq >= firstSeq) break;
      if (this.needed(e.expiresAtMs, nowMs)) lost.push(id);
      else this.seqOf.delete(id);
    }
    return lost;
  }

  /**
   * Ids stored at one of the `deleted` sequences (taken out of the middle: a single delete, a purge
   * filtered on one kind) that are still needed; expired ones there are forgotten. O(entries).
   */
  lostAt(deleted: ReadonlySet<number>, nowMs: number): string[] {
    const lost: string[] = [];
    for (const [id, e] of this.seqOf) {
      if (!deleted.has(e.seq)) continue;
      if (this.needed(e.expiresAtMs, nowMs)) lost.push(id);
      else this.seqOf.delete(id);
    }
    return lost;
  }

  /** The stream was made anew (its sequences restarted): every unexpired id is lost; all are forgotten (the replay tracks them again). */
  takeAll(nowMs: number): string[] {
    const lost: string[] = [];
    for (const [id, e] of this.seqOf) if (this.needed(e.expiresAtMs, nowMs)) lost.push(id);
    this.seqOf.clear();
    return lost;
  }

  /** `id` (expiry `expiresAtS`, epoch seconds) was loaded from the snapshot: the stream should deliver it. */
  expect(id: string, expiresAtS: number): void {
    if (!this.seqOf.has(id)) this.unseen.set(id, expiresAtS * 1000);
  }

  /** After a whole replay: the snapshot's unexpired ids the stream did not deliver (it lost them); all are forgotten. */
  takeUnseen(nowMs: number): string[] {
    const lost: string[] = [];
    for (const [id, exp] of this.unseen) if (this.needed(exp, nowMs)) lost.push(id);
    this.unseen.clear();
    return lost;
  }

  /** Stop watching `id` (this member does not hold it). */
  forget(id: string): void {
    this.seqOf.delete(id);
    this.unseen.delete(id);
  }

  /** Revocations watched: delivered by the stream, or loaded from the snapshot and not yet delivered. */
  get size(): number {
    return this.seqOf.size + this.unseen.size;
  }
}
