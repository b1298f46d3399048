// The stream follower's losses: which unexpired revocations the stream must still hold
// (StreamCoverage) and those found gone — aged out early, deleted from the middle, the stream made
// anew, not replayed — reported to be stored again (FollowerEvents.lost), with one warning per loss.
import type { Logger } from '../../node/log.js';
import type { RevocationAdded } from '../protocol/messages.js';
import type { FollowerEvents, LossReason } from './follower-events.js';
import type { StreamPosition } from './revocation-stream.js';
import { StreamCoverage } from './stream-coverage.js';

export class StreamLosses {
  /** The sequence of every unexpired revocation delivered: what the stream must still hold. */
  private readonly coverage: StreamCoverage;
  /** Tag of the last loss logged: one warning per loss, not one per check until it is stored again. */
  private lostTag = '';
  /** `firstSeq:deleted` of the stream when its holes were last looked at ('' = none seen). */
  private holesSeen = '';

  /** `lingerS`: seconds the store keeps an entry past its expiry (StreamCoverage). */
  constructor(private readonly events: FollowerEvents, private readonly logger: Logger | undefined, lingerS: (() => number) | null) {
    this.coverage = new StreamCoverage(lingerS ?? undefined);
  }

  /** Revocations watched (the refill's memory). */
  get size(): number {
    return this.coverage.size;
  }

  /** `id` (expiry epoch seconds) came from the snapshot: when a whole replay did not deliver it, it is reported lost. */
  expect(id: string, expiresAtS: number): void {
    this.coverage.expect(id, expiresAtS);
  }

  /** `msg` was delivered from `seq` and recorded: watched only when held, so the refill's memory stays within the store's bound. */
  delivered(msg: RevocationAdded, seq: number): void {
    if (this.events.holds(msg.id)) this.coverage.track(msg.id, seq, msg.expiresAt);
    else this.coverage.forget(msg.id);
  }

  /** Emptied early without being made anew (a max age or limit set by hand, a purge): what lay below its first sequence. */
  agedOutEarly(p: StreamPosition): void {
    this.report(this.coverage.lostBelow(p.firstSeq, Date.now()), `f${p.firstSeq}`, 'aged_out_early', p);
  }

  /** The stream was deleted and made anew: every watched revocation is lost, and its holes are looked at afresh. */
  recreated(p: StreamPosition): void {
    this.holesSeen = '';
    this.report(this.coverage.takeAll(Date.now()), `c${p.created ?? p.lastSeq}`, 'recreated', p);
  }

  /** These sequences were taken out of the middle of the stream at `p` (a single delete, a filtered purge). */
  deleted(seqs: readonly number[], p: StreamPosition): void {
    this.report(this.coverage.lostAt(new Set(seqs), Date.now()), `d${p.created ?? ''}:${p.firstSeq}:${p.deleted ?? 0}`, 'deleted', p);
  }

  /** A whole replay up to `targetSeq` of the stream created at `created` is over: snapshot entries it did not deliver are lost. */
  notReplayed(created: string | null, targetSeq: number): void {
    this.report(this.coverage.takeUnseen(Date.now()), `s${created ?? ''}:${targetSeq}`, 'not_replayed', { firstSeq: 0, lastSeq: targetSeq, messages: 0 });
  }

  /**
   * Did the stream's deleted count (or first sequence under it) change since last looked at? Then the
   * key to read its deleted sequences under (`deleted` follows); null when nothing is to be read (a
   * count of 0, the usual case, or nothing watched). A failed read calls holesReadFailed.
   */
  holesToRead(p: StreamPosition): string | null {
    const key = (p.deleted ?? 0) === 0 ? '' : `${p.firstSeq}:${p.deleted}`;
    if (key === this.holesSeen) return null;
    this.holesSeen = key;
    return key === '' || this.coverage.size === 0 ? null : key;
  }

  /** Reading the holes under `key` failed: read them again at the next check. */
  holesReadFailed(key: string): void {
    if (this.holesSeen === key) this.holesSeen = '';
  }

  private report(ids: readonly string[], tag: string, why: LossReason, p: StreamPosition): void {
    if (ids.length === 0) return;
    if (tag !== this.lostTag) this.logger?.warn({ lost: ids.length, why, first_seq: p.firstSeq, stream_seq: p.lastSeq }, 'revocation stream lost revocations that have not expired: storing them again');
    this.lostTag = tag;
    for (const id of this.events.lost(ids, tag, why)) this.coverage.forget(id);
  }
}
