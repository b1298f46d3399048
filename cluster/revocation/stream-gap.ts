// Reads a range of the revocation stream from its leader, message by message, for a consumer that
// stalled (stream-follower.ts). Deleted sequences (holes: a single delete, a filtered purge) are skipped
// unread, so a range that is only holes ends at once however long it is. GapReadLog says what a
// failing read waits for, once per streak rather than at every retry.
import type { Logger } from '../../node/log.js';
import type { RevocationStream, StreamMessage } from './revocation-stream.js';

/** Largest number of stored messages read one by one from the leader; beyond it only the consumer is recreated. */
export const MAX_GAP_FILL = 5_000;

/**
 * Read `from..to` from the leader, handing each stored message (null: aged out meanwhile) to `each` in
 * order while `go()` holds; the last sequence is handed over even when it is a hole (null), so the reader
 * reaches `to`. Resolves false, reading nothing, when more than MAX_GAP_FILL messages are stored there.
 */
export async function readGap(s: RevocationStream, from: number, to: number, go: () => boolean, each: (seq: number, sm: StreamMessage | null) => void): Promise<boolean> {
  // the holes are asked for only past the bound: a revocation stream has none unless someone deleted from it
  const holes = to - from + 1 > MAX_GAP_FILL ? new Set((await s.deletedSeqs()).filter((q) => q >= from && q <= to)) : null;
  if (holes !== null && to - from + 1 - holes.size > MAX_GAP_FILL) return false;
  for (let seq = from; seq <= to && go(); seq++) {
    if (holes?.has(seq) === true) { if (seq === to) each(seq, null); continue; }
    each(seq, await s.get(seq));
  }
  return true;
}

/** A streak of failed gap reads is logged at its first failure and then every GAP_LOG_EVERY-th. */
export const GAP_LOG_EVERY = 20;

/**
 * The log of a stalled consumer's gap reads. A read fails at every check (500 ms while catching up)
 * for as long as JetStream refuses it — 503 while a server has no leader for the stream or for its
 * cluster, seconds after a healed partition — so a streak is logged at its first failure and every
 * GAP_LOG_EVERY-th (saying what the member waits for), and its end once, with how long it lasted.
 */
export class GapReadLog {
  private failures = 0;
  private since = 0;

  constructor(private readonly logger?: Logger) {}

  /** In a streak of failed reads: the stall that starts each retry is not logged again. */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** A read of `seq + 1..streamSeq` failed; it is tried again at the next check, `everyMs` from now. */
  failed(err: Error, seq: number, streamSeq: number, everyMs: number): void {
    if (this.failures++ === 0) this.since = Date.now();
    if (this.failures !== 1 && this.failures % GAP_LOG_EVERY !== 0) return;
    const electing = (err as { code?: unknown }).code === '503' || /^503$|no responders|unavailable/i.test(err.message);
    const why = electing ? 'JetStream answered 503: a server has no leader for the stream or its cluster yet (an election after a partition or a restart)' : 'the stream leader did not answer it';
    this.logger?.warn({ err: err.message, attempts: this.failures, failing_for_ms: Date.now() - this.since, retry_every_ms: everyMs, seq, stream_seq: streamSeq },
      `reading the revocation stream gap failed; ${why}: this member is behind the stream until it has read up to stream_seq (retrying at every check)`);
  }

  /** The stream was read up to `seq` (a gap read ended, a catch-up completed, a check found the member level with it): a streak of failures is over, said once. */
  ended(seq: number): void {
    if (this.failures === 0) return;
    this.logger?.info({ failed_attempts: this.failures, failed_for_ms: Date.now() - this.since, seq }, 'revocation stream read again after failed gap reads');
    this.failures = 0;
  }
}
