// Stray bytes read in the poll batch that reuses an upstream connection: a request written on a
// connection that already served (taken from idle, or right after an answer) notes libuv's loop and
// event counters; bytes that connection reads in the same batch were sent before the request.
import { performance } from 'node:perf_hooks';

/** The connection side of the mark (H1Connection). */
export interface ReuseMarked {
  /** The loop iteration its last reuse was written in; -1 once a later batch read from it. */
  reuseTurn: number;
  /** libuv's count of handled I/O events when that request was written. */
  reuseEvents: number;
}

// libuv (uv_run, uv__io_poll on Linux) counts an iteration just before its poll; `events` grows only
// once a whole epoll batch's callbacks have run. One poll runs several batches without a new loop count
// when a batch comes back full (1024 events, up to 48 times): under overload a genuine answer to a
// request written in batch k is read in batch k+1 of the same iteration. Only a read in the very batch
// of the write (both counters unchanged) was readied before the write: that is the rule.

/** `c` was just given a request on a reused socket. */
export function markReused(c: ReuseMarked): void {
  const m = performance.nodeTiming.uvMetricsInfo;
  c.reuseTurn = m.loopCount;
  c.reuseEvents = m.events;
}

/** True when `c` reads in the poll batch its request was written in: the bytes are not that request's answer. */
export function readInReuseTurn(c: ReuseMarked): boolean {
  if (c.reuseTurn < 0) return false;
  const m = performance.nodeTiming.uvMetricsInfo;
  if (c.reuseTurn === m.loopCount && c.reuseEvents === m.events) return true;
  c.reuseTurn = -1; // a later batch: the epoll_wait that reported it began after the write
  return false;
}
