// One request/response on an H1Pool: the handler, the request, timestamps and flags, and the
// H1Control a caller gets back from request(). The connection carrying it is h1-connection.ts
// (a TransactionCarrier: this file names only what it calls).
import type { H1Control, H1Handler, H1Request } from './h1-client.js';

/** What a transaction needs from its pool. */
export interface TransactionOwner {
  /** Called by H1Transaction.abort(). Silent. */
  abandon(tx: H1Transaction): void;
}

/** The connection carrying a transaction, as the transaction and its pool use it (h1-connection.ts). */
export interface TransactionCarrier {
  pauseReading(tx: H1Transaction): void;
  resumeReading(tx: H1Transaction): void;
  /** The pool abandoned `tx`: true while the connection still reads its response (others in flight behind it). */
  abandonTx(tx: H1Transaction): boolean;
}

/** One request/response on the pool: the handler, the request, timestamps and flags. */
export class H1Transaction implements H1Control {
  aborted = false;
  /** Final: completed, failed or aborted; no more callbacks. */
  done = false;
  paused = false;
  queued = false;
  requestSent = false;
  gotBytes = false;
  responseStarted = false;
  retried = false;
  /** May share a connection with others in flight (h1-pipelining.ts): a body-less GET/HEAD/OPTIONS on a pool with pipelining > 1. */
  pipelineable = false;
  /**
   * Abandoned (aborted, or timed out) while other transactions were in flight on its pipelined
   * connection: its response is still read, to keep the connection in step, and thrown away.
   */
  discard = false;
  /** Was written behind another on a connection (counted once in `pipelined`). */
  wasPipelined = false;
  /** Activity since the last timer tick (body bytes in, or request-body progress). */
  activity = false;
  /** performance.now() when it began waiting for a connection / its request was written (node/run-clock.ts); 0 = not. */
  queuedAt = 0;
  sentAt = 0;
  /** performance.now() when written to a connection (pipelining pools only: the response-time estimate, h1-pipelining.ts). */
  writtenAt = 0;
  lastActivity = 0;
  conn: TransactionCarrier | null = null;
  head = '';

  constructor(
    readonly pool: TransactionOwner,
    readonly req: H1Request,
    readonly handler: H1Handler,
    readonly headersTimeoutMs: number,
  ) {}

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    this.conn?.pauseReading(this);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.done) return;
    this.activity = true;
    this.conn?.resumeReading(this);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true; // also drops an error decided but not yet delivered (h1-pool.ts report)
    if (this.done) return;
    this.done = true;
    this.pool.abandon(this);
  }
}

