// Keep-alive pool for one origin: its sockets (h1-connection.ts), the FIFO queue of transactions
// waiting for one, and one coarse timer for every timeout. Lean on purpose: no per-request closures
// or timers, one write for a request head. Every error reaches a handler through report(), on a
// later tick, so no callback re-enters the caller of request(). With `pipelining` > 1, body-less
// GET/HEAD/OPTIONS share connections (h1-pipelining.ts); each socket's deadlines: h1-deadlines.ts.
import { requestHead } from './h1-request-head.js';
import { runNow } from '../run-clock.js';
import { h1Error, type H1Control, type H1Error, type H1Handler, type H1PoolOptions, type H1Request, type PipelineCounters, type UpstreamClient } from './h1-client.js';
import { H1Connection, S_CONNECTING, S_IDLE, type ConnectionOwner, type H1Origin } from './h1-connection.js';
import { parseOrigin } from './h1-socket.js';
import { H1Transaction } from './h1-transaction.js';
import { hasRoom, isPipelineable, leastLoaded, TurnCoalescer } from './h1-pipelining.js';
import { checkDeadlines } from './h1-deadlines.js';

/** Keep-alive pool for one origin (http://host:port or https://host:port). */
export class H1Pool implements UpstreamClient, ConnectionOwner {
  /** @internal */ readonly origin: H1Origin;
  /** @internal */ readonly maxHeaderBytes: number;
  /** @internal */ readonly keepAliveMs: number;
  /** @internal */ destroyed = false;
  /** @internal */ readonly counters: PipelineCounters = { pipelined: 0, retried: 0, discarded: 0, stray: 0 };
  private readonly opts: H1PoolOptions;
  private readonly conns: H1Connection[] = [];
  private readonly idle: H1Connection[] = [];
  private pending: (H1Transaction | null)[] = [];
  private pendingHead = 0;
  private pendingCount = 0;
  private closing = false;
  private closed = false;
  private retired = false; // retire(): serve what still comes, keep no socket idle
  private closeResolve: (() => void) | null = null;
  private closePromise: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  private readonly tickBound = (): void => this.tick();
  /** Max requests in flight per connection; 1 = no pipelining. */
  private readonly pipelining: number;
  /** @internal Present when pipelining > 1 (h1-pipelining.ts). */
  readonly coalescer: TurnCoalescer | null;

  constructor(origin: string, opts: H1PoolOptions) {
    this.origin = parseOrigin(origin, opts.tls);
    if (!(opts.connections >= 1)) throw new Error('connections must be at least 1');
    this.opts = opts;
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
    this.keepAliveMs = opts.keepAliveMs;
    this.pipelining = opts.pipelining ?? 1;
    if (!(Number.isInteger(this.pipelining) && this.pipelining >= 1)) throw new Error('pipelining must be an integer ≥ 1');
    this.coalescer = this.pipelining > 1 ? new TurnCoalescer() : null;
    // Coarse enough to cost nothing, fine enough for small test timeouts.
    const shortest = Math.min(opts.connectTimeoutMs, opts.headersTimeoutMs, opts.bodyTimeoutMs, opts.keepAliveMs);
    this.tickMs = Math.max(20, Math.min(250, Math.floor(shortest / 8)));
  }

  /** Start one transaction. Callbacks are never called synchronously from here. */
  request(req: H1Request, handler: H1Handler): H1Control {
    const tx = new H1Transaction(this, req, handler, req.headersTimeoutMs ?? this.opts.headersTimeoutMs);
    if (this.closing) {
      tx.done = true;
      this.report(tx, h1Error('H1_CLOSED', 'upstream pool is closed', false));
      return tx;
    }
    try {
      tx.head = requestHead(req.method, req.path, req.headers, req.body !== null, req.contentLength, req.checkedValue ?? null);
    } catch (err) {
      tx.done = true;
      this.report(tx, h1Error('H1_REQUEST_HEAD', (err as Error).message, false));
      return tx;
    }
    tx.pipelineable = this.coalescer !== null && isPipelineable(req);
    this.dispatch(tx);
    return tx;
  }

  /** @internal Idle socket (LIFO), else a new one, else the queue. */
  dispatch(tx: H1Transaction): void {
    if (this.destroyed) {
      tx.done = true;
      this.report(tx, h1Error('H1_CLOSED', 'upstream pool destroyed', false));
      return;
    }
    this.ensureTimer();
    const co = this.coalescer;
    if (co !== null && tx.pipelineable) {
      // Behind the requests written this turn first (one write), as deep as the measured response time allows (HOL_BUDGET_MS).
      const b = co.batch;
      if (b !== null && hasRoom(b, co.batchDepth(this.pipelining))) {
        co.cork(b);
        b.add(tx);
        return;
      }
    }
    const idle = this.idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (c.socket.destroyed || !c.socket.writable) {
        c.destroy();
        continue;
      }
      if (co !== null) co.cork(c);
      c.start(tx);
      return;
    }
    if (this.conns.length < this.opts.connections) {
      this.connect(tx);
      return;
    }
    if (co !== null && tx.pipelineable) {
      const c = leastLoaded(this.conns, this.pipelining);
      if (c !== null) {
        co.cork(c);
        c.add(tx);
        return;
      }
    }
    this.enqueue(tx);
  }

  /** @internal A connection has room (just connected, took a queued request, or answered one of several): queued pipelineable requests go behind. */
  roomFreed(c: H1Connection): void {
    const co = this.coalescer;
    if (co === null || this.pendingCount === 0 || this.destroyed) return;
    while (hasRoom(c, this.pipelining)) {
      const tx = this.peek();
      if (tx === null || !tx.pipelineable) return; // FIFO: a request with a body waits for an empty connection
      this.dequeue();
      co.cork(c);
      c.add(tx);
    }
  }

  /** The next queued transaction, left in the queue. */
  private peek(): H1Transaction | null {
    const q = this.pending;
    for (let i = this.pendingHead; i < q.length; i++) {
      const tx = q[i];
      if (tx !== null && tx !== undefined && tx.queued) return tx;
    }
    return null;
  }

  pipelineCounters(): PipelineCounters { return this.counters; }

  stats(): { connected: number; free: number; pending: number; running: number } {
    let connected = 0, running = 0;
    for (const c of this.conns) {
      if (c.state !== S_CONNECTING) connected++;
      running += c.inFlight();
    }
    return { connected, free: this.idle.length, pending: this.pendingCount, running };
  }

  /** Stop accepting (new requests fail with H1_CLOSED); resolve when queued and running transactions finished and sockets are closed. */
  close(): Promise<void> {
    this.closing = true;
    if (this.closed && this.closePromise === null) return Promise.resolve();
    this.closePromise ??= new Promise<void>((resolve) => { this.closeResolve = resolve; });
    this.maybeClosed();
    return this.closePromise;
  }

  /** See UpstreamClient.retire: idle sockets close now, busy ones when their transaction ends (the timer stops with the last, tick()). */
  retire(): void {
    this.retired = true;
    for (const c of this.idle.slice()) c.destroy();
  }

  /** Close every socket now; queued and running transactions get H1_CLOSED. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closing = true;
    const err = (tx: H1Transaction): H1Error => h1Error('H1_CLOSED', 'upstream pool destroyed', tx.requestSent);
    for (let tx = this.dequeue(); tx !== null; tx = this.dequeue()) {
      tx.done = true;
      this.report(tx, err(tx));
    }
    for (const c of this.conns.slice()) {
      const q = c.queue;
      c.queue = [];
      for (const f of q) {
        f.conn = null;
        if (!f.discard) this.report(f, err(f));
      }
      const tx = c.tx;
      if (tx !== null) {
        c.tx = null;
        tx.conn = null;
        tx.done = true;
        c.destroy();
        if (!tx.discard) this.report(tx, err(tx));
      } else {
        c.destroy();
      }
    }
    this.maybeClosed();
  }

  // ---- internals (used by H1Connection / H1Transaction) ---------------------------------

  private connect(tx: H1Transaction): void {
    const c = new H1Connection(this);
    this.conns.push(c);
    c.start(tx);
  }

  private enqueue(tx: H1Transaction): void {
    tx.queued = true;
    tx.queuedAt = runNow();
    this.pending.push(tx);
    this.pendingCount++;
  }

  /** @internal A stale-socket retry goes first, on a fresh connection (see removed()). */
  requeueFirst(tx: H1Transaction): void {
    tx.queued = true;
    tx.queuedAt = runNow();
    if (this.pendingHead > 0) this.pending[--this.pendingHead] = tx;
    else this.pending.unshift(tx);
    this.pendingCount++;
  }

  private dequeue(): H1Transaction | null {
    const q = this.pending;
    while (this.pendingHead < q.length) {
      const tx = q[this.pendingHead];
      q[this.pendingHead++] = null;
      if (tx !== null && tx !== undefined && tx.queued) {
        tx.queued = false;
        this.pendingCount--;
        if (this.pendingHead === q.length) { q.length = 0; this.pendingHead = 0; }
        return tx;
      }
    }
    // an empty queue (every response end of an unqueued pool) is left alone: a store to an array's
    // `length` is a V8 runtime call (Runtime_StoreCallbackProperty), not an inline store
    if (q.length !== 0) q.length = 0;
    this.pendingHead = 0;
    return null;
  }

  /** @internal A socket finished an transaction cleanly: next queued transaction, else idle. */
  release(c: H1Connection): void {
    if (!this.destroyed) {
      const next = this.dequeue();
      if (next !== null) {
        if (this.coalescer !== null) this.coalescer.cork(c);
        c.start(next);
        this.roomFreed(c); // queued pipelineable ones go behind it in the same write
        return;
      }
    }
    if (this.closing || this.retired) {
      c.destroy();
      return;
    }
    c.state = S_IDLE;
    c.idleSince = runNow(); // inside an upstream read: the reading its response end already took
    this.idle.push(c);
  }

  /** @internal A socket is gone: forget it, and open a fresh one for the queue if there is room. */
  removed(c: H1Connection, wasIdle: boolean): void {
    const i = this.conns.indexOf(c);
    if (i !== -1) this.conns.splice(i, 1);
    if (wasIdle) {
      const j = this.idle.indexOf(c);
      if (j !== -1) this.idle.splice(j, 1);
    }
    while (this.pendingCount > 0 && this.conns.length < this.opts.connections && !this.destroyed) {
      const tx = this.dequeue();
      if (tx === null) break;
      this.connect(tx);
    }
    this.maybeClosed();
  }

  /** @internal Called by H1Transaction.abort(). Silent. */
  abandon(tx: H1Transaction): void {
    if (tx.queued) {
      tx.queued = false;
      this.pendingCount--;
    }
    // others in flight on its pipelined socket: that socket reads this response and throws it away
    if (tx.conn !== null && tx.conn.abandonTx(tx)) return;
    this.maybeClosed();
  }

  /**
   * @internal The one way an error reaches a handler: on the next tick, whatever path decided it
   * (request() → connect → write → fail is synchronous), and not at all once the handler aborted.
   */
  report(tx: H1Transaction, err: H1Error): void {
    tx.done = true;
    process.nextTick(deliverError, tx, err);
  }

  private maybeClosed(): void {
    if (!this.closing || this.closed || this.pendingCount > 0) return;
    for (const c of this.conns) if (c.tx !== null) return;
    this.closed = true;
    for (const c of this.conns.slice()) c.destroy();
    this.stopTimer();
    const resolve = this.closeResolve;
    this.closeResolve = null;
    if (resolve !== null) resolve();
  }

  private ensureTimer(): void {
    if (this.timer === null) (this.timer = setInterval(this.tickBound, this.tickMs)).unref();
  }

  private stopTimer(): void {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }

  /** Every timeout of the pool: each socket's (h1-deadlines.ts), then the queue wait. */
  private tick(): void {
    const now = performance.now(); // every timestamp of the pool is performance.now() (node/run-clock.ts)
    const conns = this.conns;
    const o = this.opts;
    for (let i = conns.length - 1; i >= 0; i--) {
      const c = conns[i];
      if (c === undefined) continue;
      checkDeadlines(c, now, o, this);
    }
    if (this.pendingCount > 0) {
      const q = this.pending;
      for (let i = this.pendingHead; i < q.length; i++) {
        const tx = q[i];
        if (tx === null || tx === undefined || !tx.queued) continue;
        if (now - tx.queuedAt >= tx.headersTimeoutMs) {
          tx.queued = false;
          this.pendingCount--;
          q[i] = null;
          tx.done = true;
          this.report(tx, h1Error('H1_HEADERS_TIMEOUT', `no upstream connection free within ${tx.headersTimeoutMs} ms`, false));
        }
      }
    }
    if (conns.length === 0 && this.pendingCount === 0) this.stopTimer();
  }
}

function deliverError(tx: H1Transaction, err: H1Error): void {
  if (tx.aborted) return;
  try {
    tx.handler.onError(err);
  } catch {
    // the transaction is over; a throwing handler cannot hurt the pool here
  }
}
