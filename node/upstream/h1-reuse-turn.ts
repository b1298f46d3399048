// Stray bytes read in the event-loop turn that reuses an upstream connection: a request written on a
// connection that already served (taken from idle, or right after an answer) notes the loop iteration;
// bytes that connection reads in the same iteration were sent before the request: it is out of step.
import { performance } from 'node:perf_hooks';

/** The connection side of the mark (H1Connection). */
export interface ReuseMarked {
  /** The loop iteration its last reuse was written in; -1 once a later iteration read from it. */
  reuseTurn: number;
}

/**
 * libuv counts an iteration just before its poll phase; timers and immediates run after it in the same
 * iteration. So a read in the iteration of the write was readied before the write (the poll that found
 * it began earlier): never the request's own answer, whatever phase the write was made in.
 */
function loopTurn(): number {
  return performance.nodeTiming.uvMetricsInfo.loopCount;
}

/** `c` was just given a request on a reused socket. */
export function markReused(c: ReuseMarked): void {
  c.reuseTurn = loopTurn();
}

/** True when `c` reads in the iteration its request was written in: the bytes are not that request's answer. */
export function readInReuseTurn(c: ReuseMarked): boolean {
  if (c.reuseTurn < 0) return false;
  if (c.reuseTurn === loopTurn()) return true;
  c.reuseTurn = -1;
  return false;
}
