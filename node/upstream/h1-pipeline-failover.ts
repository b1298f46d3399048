// What happens to the requests pipelined behind a response when their connection is lost
// (h1-connection.ts): each is retried once, alone, on another connection, or gets H1_RESET; and
// when a connection whose every request was abandoned is dropped rather than read on.
import { h1Error, type H1Error, type PipelineCounters } from './h1-client.js';
import type { H1Transaction } from './h1-transaction.js';

/** What fail-over needs from the pool (h1-pool.ts). */
export interface FailoverOwner {
  readonly destroyed: boolean;
  readonly counters: PipelineCounters;
  /** Retry `tx` first, on a fresh connection. */
  requeueFirst(tx: H1Transaction): void;
  /** Deliver an error (on a later tick; see h1-pool.ts). */
  report(tx: H1Transaction, err: H1Error): void;
}

/**
 * `q`: the transactions written behind the one being read, in order, taken off a connection that
 * is going away. Each still wanted is retried once — pipelined ones are idempotent and had no
 * response byte — or, already retried, gets H1_RESET (502). None is answered from that connection.
 */
export function failOver(q: readonly H1Transaction[], owner: FailoverOwner): void {
  // Back to front: requeueFirst puts each in front of the previous, keeping their order.
  for (let i = q.length - 1; i >= 0; i--) {
    const tx = q[i]!;
    tx.conn = null;
    if (tx.discard || tx.done) continue;
    if (!tx.retried && !owner.destroyed) {
      tx.retried = true;
      tx.requestSent = false;
      tx.sentAt = 0;
      tx.gotBytes = false;
      // The retry goes alone (on an empty connection, nothing behind it): an upstream that
      // drops pipelined connections, e.g. HTTP/1.0 without keep-alive, still answers it.
      tx.pipelineable = false;
      owner.counters.retried++;
      owner.requeueFirst(tx);
    } else {
      owner.report(tx, h1Error('H1_RESET', 'upstream closed a pipelined connection before this response', true, null));
    }
  }
}

/**
 * True when `head` (the transaction being read) and every one written behind it were abandoned
 * (client gone, or timed out): no response on the connection is wanted, and reading on would keep
 * it and its pool slot for nobody — an endless response (SSE) for ever, every request queued
 * behind it timing out. The caller drops the connection; none of them is reported again.
 */
export function allDiscarded(head: H1Transaction | null, queue: readonly H1Transaction[]): boolean {
  if (head === null || !head.discard) return false;
  for (let i = 0; i < queue.length; i++) if (!queue[i]!.discard) return false;
  return true;
}
