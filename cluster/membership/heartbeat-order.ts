// Which heartbeat is newer: the rules that tell a member's next beat from a replay of an old one
// (its (startedAt, seq) and, when signed, its signing time), and how long they are remembered.

/** How long the newest (startedAt, seq) of a member no longer in the view is remembered, ms: past the longest `cluster.auth.max_age_ms` (10 min), so no replay of its heartbeats is still fresh. */
export const REPLAY_MEMORY_MS = 660_000;

/**
 * Most member ids whose newest heartbeat is remembered: 4 × the view's bound. Past it, the id heard longest ago that
 * is no longer in the view is forgotten (forgetOldest): invented ids that join and fall silent in turn cannot grow
 * the memory, and a real member is never kept out by it (only a key holder can make that churn, and it can sign
 * any heartbeat it wants anyway).
 */
export const MAX_REMEMBERED_MEMBERS = 4096;

/**
 * The newest heard from a member, each on its own: the highest (startedAt, seq), the latest signing time (null: unsigned IPC),
 * when it was heard, and `started`: the latest startedAt that was not ahead of this member's clock when heard (what a goodbye is judged by).
 */
export interface Newest { readonly startedAt: number; readonly seq: number; readonly signedAt: number | null; readonly at: number; readonly started: number }

/**
 * Is a heartbeat no newer than `last`? A replay is older on both counts: its (startedAt, seq) and, when
 * signed, its signing time. Signing time alone made a member whose clock was stepped back (an NTP step)
 * a "replayer" of its own beats, out of every view until its clock passed the last one heard; (startedAt,
 * seq) alone let one beat sealed under its id with seq 2^53 hold it out until it restarted. Now such a
 * beat holds it out at most for the freshness window it may sign ahead (`cluster.auth.max_age_ms`).
 */
export function notNewer(m: { readonly startedAt: number; readonly seq: number }, signedAt: number | null, last: Newest): boolean {
  const olderProcessOrSeq = m.startedAt < last.startedAt || (m.startedAt === last.startedAt && m.seq <= last.seq);
  if (signedAt !== null && last.signedAt !== null) return olderProcessOrSeq && signedAt <= last.signedAt;
  return olderProcessOrSeq;
}

/** `last` moved forward by a heartbeat that is not a replay: each count keeps its highest. */
export function newer(last: Newest | undefined, m: { readonly startedAt: number; readonly seq: number }, signedAt: number | null, at: number): Newest {
  // a start in our future (a beat signed ahead within max_age_ms) is no proof of a restart yet: heard again once it is past, it counts
  const started = Math.max(last?.started ?? Number.NEGATIVE_INFINITY, m.startedAt <= at ? m.startedAt : Number.NEGATIVE_INFINITY);
  if (last === undefined) return { startedAt: m.startedAt, seq: m.seq, signedAt, at, started };
  const ahead = m.startedAt > last.startedAt || (m.startedAt === last.startedAt && m.seq > last.seq);
  const signed = signedAt === null ? last.signedAt : last.signedAt === null ? signedAt : Math.max(signedAt, last.signedAt);
  return { startedAt: ahead ? m.startedAt : last.startedAt, seq: ahead ? m.seq : last.seq, signedAt: signed, at, started };
}

/** Make room for one more id in `newest`: forget the one heard longest ago that is not in the view (`inView`). */
export function forgetOldest(newest: Map<string, Newest>, inView: (id: string) => boolean): void {
  let oldest: string | null = null;
  let at = Infinity;
  for (const [id, n] of newest) if (n.at < at && !inView(id)) { at = n.at; oldest = id; }
  if (oldest !== null) newest.delete(oldest);
}
