// Reads a range of the revocation stream from its leader, message by message, for a consumer that
// stalled (stream-follower.ts). Deleted sequences (holes: a single delete, a filtered purge) are skipped
// unread, so a range that is only holes ends at once however long it is.
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
