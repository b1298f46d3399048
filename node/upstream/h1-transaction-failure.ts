// Failing the transaction being read on an upstream socket: the error goes to its handler (through the
// pool, on a later tick), or — once, when nothing can be duplicated — the transaction is retried on a
// fresh socket; either way the socket is dropped and those pipelined behind it fail over.
import { h1Error, retryOnFreshSocket } from './h1-client.js';
import type { FailoverOwner } from './h1-pipeline-failover.js';
import { detachBody, type RequestWriterConn } from './h1-request-writer.js';
import type { H1Transaction } from './h1-transaction.js';

/** What failing needs of a connection (h1-connection.ts). */
export interface FailingConn extends RequestWriterConn {
  readonly pool: FailoverOwner;
  /** Transactions completed on it: a reused socket may have been closed by the server as we wrote. */
  readonly served: number;
  /** A chunk kept while the handler was paused: dropped with the transaction. */
  held: Buffer | null;
  /** Drop the transactions written behind the one being read (h1-pipeline-failover.ts). */
  failOverQueue(): void;
  destroy(abort?: boolean): void;
}

/** Finish `tx` (the one `c` reads) with an error, or retry it once on a fresh socket, and drop `c`'s socket. */
export function failTransaction(c: FailingConn, tx: H1Transaction, code: string, message: string, cause: unknown): void {
  if (c.tx !== tx) return;
  const bodyUnsent = tx.req.body !== null && (c.body !== null || c.socket.writableLength > 0); // h1-client.ts H1Error
  detachBody(c);
  c.failOverQueue(); // before tx: a retried tx goes in front of them
  c.tx = null;
  c.held = null;
  tx.conn = null;
  if (tx.discard) {
    tx.done = true;
    c.destroy(true);
    return;
  }
  // Once on a fresh socket when it cannot duplicate anything (h1-client.ts retryOnFreshSocket).
  if (!c.pool.destroyed && retryOnFreshSocket(code, {
    gotBytes: tx.gotBytes, retried: tx.retried, requestSent: tx.requestSent,
    reusedSocket: c.served > 0, hasBody: tx.req.body !== null, method: tx.req.method,
  })) {
    tx.retried = true;
    tx.requestSent = false;
    tx.sentAt = 0;
    if (tx.wasPipelined) {
      // written behind another, now failed ahead of the rest: it retries alone, as those behind it do
      tx.pipelineable = false;
      c.pool.counters.retried++;
    }
    c.pool.requeueFirst(tx);
    c.destroy(true);
    return;
  }
  tx.done = true;
  c.destroy(true);
  c.pool.report(tx, h1Error(code, message, tx.requestSent, cause, bodyUnsent));
}
