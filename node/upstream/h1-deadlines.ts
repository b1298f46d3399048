// The deadlines of one upstream socket, checked by its pool's coarse timer (h1-pool.ts tick): connect,
// response head, request-body progress, response-body gaps, idle lifetime, and each pipelined
// transaction's own head deadline. Runs per timer tick, never per request.
import { h1Error, type H1Error, type H1PoolOptions } from './h1-client.js';
import { S_CONNECTING, S_IDLE, type H1Connection } from './h1-connection.js';
import type { H1Transaction } from './h1-transaction.js';

/** What a deadline check needs from the pool: how an error reaches a handler (H1Pool.report). */
export interface DeadlineOwner {
  report(tx: H1Transaction, err: H1Error): void;
}

/**
 * Fail, discard or close whatever on `c` is past its deadline at `now` (performance.now() ms, as every
 * timestamp of the pool: node/run-clock.ts). A failure goes through c.fail (504 or a retry), a pipelined
 * transaction timed out behind others through `owner.report`.
 */
export function checkDeadlines(c: H1Connection, now: number, o: H1PoolOptions, owner: DeadlineOwner): void {
  const tx = c.tx;
  if (c.state === S_CONNECTING) {
    // the request's own deadline (route timeout_ms, else response_ms) runs while connecting too, from
    // when it began waiting for a connection: 504, no retry
    if (tx !== null && now - (tx.queuedAt > 0 ? tx.queuedAt : c.connectStart) >= tx.headersTimeoutMs) {
      c.fail(tx, 'H1_HEADERS_TIMEOUT', `no upstream connection within ${tx.headersTimeoutMs} ms`, null);
    } else if (now - c.connectStart >= o.connectTimeoutMs) {
      if (tx !== null) c.fail(tx, 'ETIMEDOUT', `connect timeout after ${o.connectTimeoutMs} ms`, null);
      else c.destroy();
    }
  } else if (c.state === S_IDLE) {
    if (now - c.idleSince >= c.idleTimeout) c.destroy();
  } else if (tx !== null) {
    if (tx.activity) {
      tx.activity = false;
      tx.lastActivity = now;
    }
    if (!tx.responseStarted) {
      if (tx.sentAt > 0) {
        // a body-less request that waited for its connection counts that wait too (an upload's time never counts)
        const since = tx.queuedAt > 0 && tx.queuedAt < tx.sentAt && tx.req.body === null ? tx.queuedAt : tx.sentAt;
        if (now - since >= tx.headersTimeoutMs) c.fail(tx, 'H1_HEADERS_TIMEOUT', `no response head within ${tx.headersTimeoutMs} ms`, null);
      } else if (c.bodyWaitingDrain && now - tx.lastActivity >= o.bodyTimeoutMs) {
        c.fail(tx, 'H1_BODY_TIMEOUT', `upstream stopped reading the request body for ${o.bodyTimeoutMs} ms`, null);
      }
    } else if (tx.paused) {
      tx.lastActivity = now; // a paused transaction waits for its consumer, not for the upstream
    } else if (now - tx.lastActivity >= o.bodyTimeoutMs) {
      c.fail(tx, 'H1_BODY_TIMEOUT', `no response body bytes for ${o.bodyTimeoutMs} ms`, null);
    }
    // Pipelined behind it: each keeps its own deadline from its write (head-of-line waiting
    // counts). Timed out, it gets its 504 now; its response is still read when it comes.
    for (const f of c.queue) {
      if (!f.discard && f.sentAt > 0 && now - f.sentAt >= f.headersTimeoutMs) {
        c.discardTx(f);
        owner.report(f, h1Error('H1_HEADERS_TIMEOUT', `no response head within ${f.headersTimeoutMs} ms (pipelined)`, true));
      }
    }
  }
}
