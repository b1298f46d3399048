// What the revocation stream follower (stream-follower.ts) reports to the revocation actor, and
// why it reports a revocation lost from the stream.
import type { RevocationAdded } from '../protocol/messages.js';

/**
 * Why the stream no longer holds an unexpired revocation: its first sequence passed it, its sequence
 * was taken out of the middle (a single delete, a filtered purge), the stream was made anew, or a
 * whole replay did not deliver one loaded from the snapshot.
 */
export type LossReason = 'aged_out_early' | 'deleted' | 'recreated' | 'not_replayed';

/** What the follower reports to the actor (synchronously, from its own mailbox). */
export interface FollowerEvents {
  /** One stream message, in sequence order, each sequence once (null: not an authentic, valid revocation); `signedAt` epoch ms or null without authentication. */
  record(msg: RevocationAdded | null, seq: number, subject: string, signedAt: number | null): void;
  /** Every message up to the leader's last sequence (as of the connect or a later check) has been delivered. */
  complete(): void;
  /**
   * The stream stopped answering while the connection stayed up (this member's NATS server is
   * cut off from the stream's quorum): nothing newer than `sinceMs` (epoch ms, the last time
   * the stream answered) can be trusted to have arrived. Called on every failed check.
   */
  unreachable(sinceMs: number): void;
  /** The stream answers again after `unreachable`: a catch-up from the last sequence has begun (`complete` follows). */
  reachable(): void;
  /**
   * The stream no longer holds these unexpired revocations it delivered (emptied early, taken out of
   * the middle, or made anew): store them again, deduplicated on `tag` (the same loss seen by every
   * member has the same tag). Returns the ids this member does not hold (refused, swept): no longer watched.
   */
  lost(ids: readonly string[], tag: string, why: LossReason): readonly string[];
  /**
   * Does this member's store hold revocation `id` (asked right after `record`)? Only those are
   * watched: one it refused (full) or already swept it could not store again, and watching it would
   * grow with the stream past the store's bound.
   */
  holds(id: string): boolean;
}

/** StreamFollower.stats() of a member without a stream (IPC, local): the families still exist. */
export const FOLLOWER_ZEROS: Readonly<Record<string, number>> = Object.freeze({ revocation_stream_seq: 0, revocation_consumer_restarts_total: 0, revocation_stream_watched: 0, revocation_stream_created_changed_total: 0, revocation_stream_checks_total: 0 });
