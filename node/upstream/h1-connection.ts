// One upstream socket (net or tls), its parser and its transactions: `tx` being read, pipelined ones
// after it in `queue`. Feeds the parser and delivers to the handler; writing the request is h1-request-writer.ts,
// keep-alive h1-keep-alive.ts, fail or retry h1-transaction-failure.ts; its pool (h1-pool.ts) is a ConnectionOwner.
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { H1Parser, P_DONE, type H1ParserSink } from './h1-parser.js';
import { failTransaction, type FailingConn } from './h1-transaction-failure.js';
import { idleAfterResponse } from './h1-keep-alive.js';
import { allDiscarded, failOver, type FailoverOwner } from './h1-pipeline-failover.js';
import type { H1Transaction, TransactionCarrier, TransactionOwner } from './h1-transaction.js';
import { writeRequest, detachBody, onBodyData, onBodyEnd, onBodyError, onDrain, type RequestWriterConn } from './h1-request-writer.js';
import { openUpstreamSocket, resetUpstreamSocket, takeUnread, type H1Origin } from './h1-socket.js';
import { markReused, readInReuseTurn, type ReuseMarked } from './h1-reuse-turn.js';
export type { H1Origin } from './h1-socket.js';
import { runNow } from '../run-clock.js';

export const S_CONNECTING = 0, S_BUSY = 1, S_IDLE = 2, S_CLOSED = 3;

/** What a connection and a transaction need from the pool that owns them (h1-pool.ts). */
export interface ConnectionOwner extends TransactionOwner, FailoverOwner {
  readonly origin: H1Origin;
  readonly maxHeaderBytes: number;
  readonly keepAliveMs: number;
  readonly destroyed: boolean;
  /** A socket finished a transaction cleanly: next queued transaction, else idle. */
  release(c: H1Connection): void;
  /** A socket is gone. */
  removed(c: H1Connection, wasIdle: boolean): void;
  /** A connection has room for queued pipelineable transactions (connected, or one of several answered). */
  roomFreed(c: H1Connection): void;
  /** Pipelining pools only (h1-pipelining.ts TurnCoalescer): told when a response that had nothing ahead of it ends (the response-time estimate). */
  readonly coalescer: { observe(writtenAt: number): void } | null;
}

/** One socket, its parser and the transaction on it. Listeners are bound once per socket. */
export class H1Connection implements H1ParserSink, RequestWriterConn, TransactionCarrier, ReuseMarked, FailingConn {
  state = S_CONNECTING;
  /** The transaction whose response is read next (the head of the pipeline). */
  tx: H1Transaction | null = null;
  /** Pipelined transactions written after `tx`, in order; never non-empty while `tx` is null. */
  queue: H1Transaction[] = [];
  /** Corked until the pool's end-of-turn flush (h1-pipelining.ts). */
  corked = false;
  reuseTurn = -1; // loop iteration and poll batch of its last reuse: bytes read in that batch came before the request
  reuseEvents = 0; // (h1-reuse-turn.ts)
  readonly socket: net.Socket;
  readonly parser: H1Parser;
  /** performance.now() domain, as every timestamp of the pool (node/run-clock.ts). */
  readonly connectStart = runNow();
  idleSince = 0;
  idleTimeout = 0;
  served = 0;
  /** @internal The rest of a chunk read while the handler paused (a copy); h1-transaction-failure.ts drops it. */
  held: Buffer | null = null;
  private heldOff = 0;
  // request body streaming (h1-request-writer.ts)
  body: Readable | null = null;
  bodyRemaining = 0;
  bodyChunked = false;
  bodyWaitingDrain = false;
  private readonly processHeldBound = (): void => this.processHeld();
  readonly onBodyDataBound = (c: Buffer | string): void => onBodyData(this, c);
  readonly onBodyEndBound = (): void => onBodyEnd(this);
  readonly onBodyErrorBound = (e: Error): void => onBodyError(this, e);
  readonly onBodyCloseBound = (): void => onBodyError(this, null);

  constructor(readonly pool: ConnectionOwner) {
    this.parser = new H1Parser(this, pool.maxHeaderBytes);
    const s = this.socket = openUpstreamSocket(pool.origin, (chunk) => this.onData(chunk), () => this.onConnect());
    s.on('end', () => this.onEnd());
    s.on('error', (err: Error) => this.onSocketError(err));
    s.on('close', () => this.onSocketError(null));
    s.on('drain', () => onDrain(this));
  }

  /** Transactions written and not yet answered (or abandoned and still to be read). */
  inFlight(): number { return this.tx === null ? 0 : 1 + this.queue.length; }

  /** Write another pipelineable transaction behind those in flight (the caller checked room: h1-pipelining.ts). */
  add(tx: H1Transaction): void {
    this.pool.counters.pipelined++;
    tx.writtenAt = performance.now();
    tx.wasPipelined = true;
    tx.conn = this;
    tx.gotBytes = false;
    tx.responseStarted = false;
    this.queue.push(tx);
    writeRequest(this, tx);
  }

  /** Take a transaction on an empty connection: write it now, or when connected. */
  start(tx: H1Transaction): void {
    this.tx = tx;
    if (this.pool.coalescer !== null) tx.writtenAt = performance.now();
    tx.conn = this;
    tx.gotBytes = false;
    tx.responseStarted = false;
    this.held = null;
    this.parser.reset(tx.req.method === 'HEAD');
    if (this.state !== S_CONNECTING) {
      markReused(this); // reused (idle, or right after an answer): bytes read in this poll batch were sent before the request
      this.state = S_BUSY;
      writeRequest(this, tx);
    }
  }

  private onConnect(): void {
    if (this.state !== S_CONNECTING) return;
    this.state = S_BUSY;
    const tx = this.tx;
    if (tx !== null) {
      if (this.pool.coalescer !== null) tx.writtenAt = performance.now(); // connecting is not response time
      writeRequest(this, tx);
      // its deadline counts from the connect, not the write: timeout_ms bounds connect + response head together
      if (tx.sentAt > 0) tx.sentAt = this.connectStart;
      this.pool.roomFreed(this); // with pipelining, requests queued while connecting follow it
    } else {
      this.pool.release(this); // its transaction was aborted while connecting
    }
  }

  // ---- response --------------------------------------------------------------

  private onData(chunk: Buffer): void {
    const tx = this.tx;
    if (tx === null || this.state !== S_BUSY) {
      this.destroy(); // bytes nobody asked for: the connection is out of sync
      return;
    }
    if (!tx.requestSent || readInReuseTurn(this)) {
      // Not our response: a server's 408 before it drops the socket, or stray bytes read in the poll batch
      // that reused the connection (a bodiless idempotent request is retried on a fresh one, others get 502).
      if (tx.requestSent) this.pool.counters.stray++;
      this.fail(tx, 'H1_RESET', 'upstream sent bytes before the request', null);
      return;
    }
    tx.gotBytes = true;
    this.process(tx, chunk, 0);
  }

  private process(tx: H1Transaction, chunk: Buffer, off: number): void {
    for (;;) {
      const r = this.parser.execute(chunk, off);
      if (this.tx !== tx) return; // aborted, failed or a handler threw during a callback
      if (r < 0) {
        this.fail(tx, 'H1_PROTOCOL', `invalid upstream response: ${this.parser.error}`, null);
        return;
      }
      if (this.parser.state === P_DONE) {
        // With pipelining the bytes after this response are the next transaction's response.
        const next = this.complete(tx, r === chunk.length);
        if (next === null || r === chunk.length) return;
        next.gotBytes = true;
        tx = next;
        off = r;
        continue;
      }
      if (r < chunk.length) {
        // The handler paused mid-chunk: keep the rest until resume() — a copy, as the chunk
        // may be the shared read buffer (READ_BUFFER) that the next read overwrites.
        this.held = Buffer.from(chunk.subarray(r));
        this.heldOff = 0;
      }
      if (tx.responseStarted) this.readEnd(tx);
      return;
    }
  }

  private readEnd(tx: H1Transaction): void {
    if (tx.discard) return;
    try {
      tx.handler.onReadEnd?.();
    } catch (err) {
      this.handlerThrew(tx, err);
    }
  }

  pauseReading(tx: H1Transaction): void {
    if (this.state === S_BUSY && this.tx === tx) this.socket.pause();
  }

  resumeReading(tx: H1Transaction): void {
    if (this.state !== S_BUSY || this.tx !== tx) return;
    if (this.held !== null) process.nextTick(this.processHeldBound);
    else this.socket.resume();
  }

  private processHeld(): void {
    const tx = this.tx;
    const held = this.held;
    if (tx === null || held === null || tx.paused) return;
    this.held = null;
    this.process(tx, held, this.heldOff);
    if (this.tx === tx && !tx.paused && this.held === null) this.socket.resume();
  }

  onHead(status: number, statusText: string, headers: string[], contentLength: number): boolean {
    const tx = this.tx!;
    tx.responseStarted = true;
    tx.activity = true;
    if (tx.discard) return true;
    try {
      tx.handler.onResponseStart(status, statusText, headers, contentLength, this.parser.nonAscii);
    } catch (err) {
      this.handlerThrew(tx, err);
      return false;
    }
    return this.tx === tx && !tx.paused;
  }

  onBody(chunk: Buffer): boolean {
    const tx = this.tx!;
    tx.activity = true;
    if (tx.discard) return true;
    try {
      tx.handler.onResponseData(chunk);
    } catch (err) {
      this.handlerThrew(tx, err);
      return false;
    }
    return this.tx === tx && !tx.paused;
  }

  /**
   * `tx`'s response is complete. Returns the next pipelined transaction, now the one read (its
   * response may follow in the same chunk), or null when none follows on this socket.
   */
  private complete(tx: H1Transaction, noExtraBytes: boolean): H1Transaction | null {
    const p = this.parser;
    const followers = this.queue.length > 0;
    const uploading = this.body !== null; // answered before its body was all sent (an early 413…)
    const idle = idleAfterResponse(p, followers, noExtraBytes, uploading, this.socket.destroyed, tx.req, this.pool.keepAliveMs); // h1-keep-alive.ts
    let reusable = idle >= 0;
    if (reusable) this.idleTimeout = idle;
    detachBody(this);
    this.tx = null;
    this.held = null;
    tx.conn = null;
    tx.done = true;
    this.served++;
    if (this.pool.coalescer !== null && !tx.wasPipelined) this.pool.coalescer.observe(tx.writtenAt);
    if (!tx.discard) {
      try {
        tx.handler.onResponseEnd();
      } catch {
        reusable = false;
      }
    }
    if (!reusable || this.state !== S_BUSY) {
      this.failOverQueue(); // the ones written behind it go to another connection, or get an error
      this.destroy(uploading);
      return null;
    }
    // Paused by the handler, or still paused from a held chunk: the socket must flow (to see
    // 'end' when idle, or the next pipelined response).
    if (this.socket.isPaused()) this.socket.resume();
    const next = this.queue.shift();
    if (next === undefined) {
      this.pool.release(this);
      return null;
    }
    this.tx = next;
    this.parser.reset(next.req.method === 'HEAD');
    if (next.paused) this.socket.pause();
    this.pool.roomFreed(this);
    return this.tx === next ? next : null;
  }

  /** Drop the transactions written behind the one being read (this socket is going away): h1-pipeline-failover.ts. */
  failOverQueue(): void {
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = [];
    failOver(q, this.pool);
  }

  /** TransactionCarrier: its pool abandoned `tx`; true while the connection still reads its response (see discardTx). */
  abandonTx(tx: H1Transaction): boolean {
    if (this.queue.length > 0) { this.discardTx(tx); return true; } // others in flight behind it
    tx.conn = null;
    this.tx = null;
    if (this.state !== S_CONNECTING) this.destroy(true); // a socket still connecting is healthy: kept for the next request
    return false;
  }

  /**
   * Stop delivering to `tx` (aborted, or timed out behind others): its response is still read
   * and thrown away so the ones behind it stay in step.
   */
  discardTx(tx: H1Transaction): void {
    if (!tx.discard) this.pool.counters.discarded++;
    tx.discard = true;
    if (tx.paused) {
      tx.paused = false;
      if (this.tx === tx) this.resumeReading(tx);
    }
    if (allDiscarded(this.tx, this.queue)) this.destroy(true); // no response read on is wanted (h1-pipeline-failover.ts)
  }

  private handlerThrew(tx: H1Transaction, err: unknown): void {
    this.fail(tx, 'H1_HANDLER', `response handler threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }

  // ---- end of the connection ---------------------------------------------------

  private onEnd(): void {
    const tx = this.tx;
    if (tx !== null && this.state === S_BUSY && this.held === null && this.parser.finishEof()) {
      this.complete(tx, true); // close-delimited body
      return;
    }
    this.onSocketError(null);
  }

  private onSocketError(err: Error | null): void {
    let tx = this.tx;
    // a write failed on the upstream's reset: its answer may be what it sent before (a 413 to an upload)
    const unread = tx !== null && this.state === S_BUSY && tx.requestSent ? takeUnread(this.socket) : null;
    if (unread !== null) { this.onData(unread); tx = this.tx; }
    if (tx !== null) {
      if (this.state === S_CONNECTING) {
        const code = (err as NodeJS.ErrnoException | null)?.code ?? 'ECONNRESET';
        this.fail(tx, code, err?.message ?? 'connection closed while connecting', err);
      } else {
        this.fail(tx, 'H1_RESET', err === null ? 'upstream closed the connection before the response completed' : `upstream connection failed: ${err.message}`, err);
      }
    }
    this.destroy();
  }

  /** Finish `tx` with an error (or retry it once on a fresh socket) and drop this socket: h1-transaction-failure.ts. */
  fail(tx: H1Transaction, code: string, message: string, cause: unknown): void {
    failTransaction(this, tx, code, message, cause);
  }

  /**
   * Close the socket. `abort`: mid-exchange (the request unanswered or its body unsent) — the socket
   * is reset (TLS: the TCP socket under it), so the upstream sees the request aborted at once and the
   * kernel drops what it still held to send. A FIN would queue behind that data: to an upstream that stopped reading an
   * upload the socket stayed in FIN-WAIT-1 holding up to ~4 MB of body for as long as the upstream
   * lived (> 100 s measured), one per 504, and the upstream never learnt the request was gone.
   */
  destroy(abort = false): void {
    if (this.state === S_CLOSED) return;
    const wasIdle = this.state === S_IDLE;
    const reset = abort && this.state === S_BUSY && !this.socket.destroyed;
    this.state = S_CLOSED;
    detachBody(this);
    if (reset) resetUpstreamSocket(this.socket);
    else this.socket.destroy();
    const tx = this.tx;
    if (tx !== null) {
      // Only reached from pool.destroy() paths that reported already, or abort().
      this.tx = null;
      tx.conn = null;
    }
    this.failOverQueue(); // empty on every path above; a safety net so none is left waiting
    this.pool.removed(this, wasIdle);
  }
}

