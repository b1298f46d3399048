// HTTP/1.1 keep-alive client for the proxy's upstream hop: one H1Pool per origin, raw net/tls
// sockets, the strict parser of h1-parser.ts, one coarse timer per pool for every timeout.
// Lean on purpose: no per-request closures or timers, one write for a request head.
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { H1Parser, P_DONE, requestHead, type H1ParserSink } from './h1-parser.js';

/** Callbacks of one upstream exchange; called at most once each except onResponseData. */
export interface H1Handler {
  /** Final (non-1xx) response head. headers: flat [lowercased-name, value, ...] as received (duplicates kept). contentLength: -1 unknown (chunked or close-delimited), 0 for HEAD/204/304. */
  onResponseStart(status: number, statusText: string, headers: string[], contentLength: number): void;
  /** Body bytes, de-chunked. The buffer may be retained. May call ctl.pause() synchronously. */
  onResponseData(chunk: Buffer): void;
  /**
   * Optional: one upstream read has been delivered (its onResponseStart/onResponseData calls are
   * done) and the response continues. Lets a handler send a head on its own only when no body
   * byte came with it, instead of scheduling a tick per response. Not called once onResponseEnd ran.
   */
  onReadEnd?(): void;
  onResponseEnd(): void;
  /**
   * err.code: the socket's code while connecting (ECONNREFUSED, ECONNRESET, EHOSTUNREACH, TLS codes…),
   * ETIMEDOUT (connect), H1_HEADERS_TIMEOUT, H1_BODY_TIMEOUT, H1_PROTOCOL (malformed or ambiguous
   * response), H1_REQUEST_HEAD (a method, target, header name or value that cannot be sent as it is;
   * reported before anything is written, never the upstream's fault), H1_RESET (closed before the response completed),
   * H1_REQUEST_BODY (request body stream failed or did not match contentLength), H1_HANDLER (a
   * handler callback threw), H1_CLOSED (pool closed or destroyed). Never reported after abort().
   * requestSent: false when no request byte was written.
   */
  onError(err: H1Error): void;
}

export type H1Error = Error & { code: string; requestSent: boolean };

export interface H1Control {
  pause(): void;
  resume(): void;
  /** Destroy the socket (never reused); no callback follows. No-op once the exchange finished. */
  abort(): void;
  readonly aborted: boolean;
}

/**
 * What UpstreamPool needs from a per-origin client: H1Pool, or (for `bench upstream-client`
 * only) the undici adapter in undici-client.ts.
 */
export interface UpstreamClient {
  /** Start one exchange; callbacks are never called synchronously from here. */
  request(req: H1Request, handler: H1Handler): H1Control;
  stats(): { connected: number; free: number; pending: number; running: number };
  /** Stop accepting; resolve when running exchanges finished. */
  close(): Promise<void>;
  /** Close every socket now; running exchanges get H1_CLOSED. */
  destroy(): void;
}

export interface H1PoolOptions {
  /** Sockets per origin; further requests queue FIFO. */
  connections: number;
  /** Idle socket lifetime, ms (shortened by the server's Keep-Alive: timeout= hint minus 1 s). */
  keepAliveMs: number;
  connectTimeoutMs: number;
  /** Request fully sent → response head, ms. Also bounds the time a request waits in the queue. */
  headersTimeoutMs: number;
  /** Max gap between response body chunks (or request-body progress while the upstream stops reading), ms. */
  bodyTimeoutMs: number;
  /** Response head (and trailers) size limit; default 64 KiB. */
  maxHeaderBytes?: number;
  tls?: { rejectUnauthorized?: boolean; servername?: string };
}

export interface H1Request {
  method: string;
  path: string;
  /** Flat name/value list including host; never content-length/transfer-encoding (the client frames). */
  headers: string[];
  body: Readable | null;
  /** Body length; -1 = unknown → chunked when body !== null. */
  contentLength: number;
  headersTimeoutMs?: number;
}

const S_CONNECTING = 0, S_BUSY = 1, S_IDLE = 2, S_CLOSED = 3;
/** A body this small that is already buffered goes out in the same write as the head. */
const INLINE_BODY_MAX = 64 * 1024;

function h1Error(code: string, message: string, requestSent: boolean, cause?: unknown): H1Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as H1Error;
  err.code = code;
  err.requestSent = requestSent;
  return err;
}

function isIdempotent(m: string): boolean {
  return m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || m === 'TRACE' || m === 'PUT' || m === 'DELETE';
}

/** One request/response on the pool: the handler, the request, timestamps and flags. */
class H1Exchange implements H1Control {
  aborted = false;
  /** Final: completed, failed or aborted; no more callbacks. */
  done = false;
  paused = false;
  queued = false;
  requestSent = false;
  gotBytes = false;
  responseStarted = false;
  retried = false;
  /** Activity since the last timer tick (body bytes in, or request-body progress). */
  activity = false;
  queuedAt = 0;
  sentAt = 0;
  lastActivity = 0;
  conn: H1Conn | null = null;
  head = '';

  constructor(
    readonly pool: H1Pool,
    readonly req: H1Request,
    readonly handler: H1Handler,
    readonly headersTimeoutMs: number,
  ) {}

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    const c = this.conn;
    if (c !== null && c.state === S_BUSY) c.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.done) return;
    this.activity = true;
    const c = this.conn;
    if (c !== null && c.state === S_BUSY) c.resumeReading();
  }

  abort(): void {
    if (this.done) return;
    this.aborted = true;
    this.done = true;
    this.pool.abandon(this);
  }
}

/** One socket, its parser and the exchange on it. Listeners are bound once per socket. */
class H1Conn implements H1ParserSink {
  state = S_CONNECTING;
  ex: H1Exchange | null = null;
  readonly socket: net.Socket;
  readonly parser: H1Parser;
  readonly connectStart = Date.now();
  idleSince = 0;
  idleTimeout = 0;
  served = 0;
  private held: Buffer | null = null;
  private heldOff = 0;
  // request body streaming
  private body: Readable | null = null;
  private bodyRemaining = 0;
  private bodyChunked = false;
  bodyWaitingDrain = false;
  private readonly processHeldBound = (): void => this.processHeld();
  private readonly onBodyDataBound = (c: Buffer | string): void => this.onBodyData(c);
  private readonly onBodyEndBound = (): void => this.onBodyEnd();
  private readonly onBodyErrorBound = (e: Error): void => this.onBodyError(e);
  private readonly onBodyCloseBound = (): void => this.onBodyError(null);

  constructor(readonly pool: H1Pool) {
    const o = pool.target;
    this.parser = new H1Parser(this, pool.maxHeaderBytes);
    if (o.tls) {
      this.socket = tls.connect({ host: o.host, port: o.port, servername: o.servername, rejectUnauthorized: o.rejectUnauthorized, ALPNProtocols: ['http/1.1'] });
      this.socket.on('secureConnect', () => this.onConnect());
    } else {
      this.socket = net.connect({ host: o.host, port: o.port });
      this.socket.on('connect', () => this.onConnect());
    }
    const s = this.socket;
    s.setNoDelay(true);
    s.setKeepAlive(true, 60_000);
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('end', () => this.onEnd());
    s.on('error', (err: Error) => this.onSocketError(err));
    s.on('close', () => this.onSocketError(null));
    s.on('drain', () => this.onDrain());
  }

  /** Take an exchange: write it now, or when connected. */
  start(ex: H1Exchange): void {
    this.ex = ex;
    ex.conn = this;
    ex.gotBytes = false;
    ex.responseStarted = false;
    this.held = null;
    this.parser.reset(ex.req.method === 'HEAD');
    if (this.state !== S_CONNECTING) this.write(ex);
  }

  private onConnect(): void {
    if (this.state !== S_CONNECTING) return;
    this.state = S_BUSY;
    const ex = this.ex;
    if (ex !== null) this.write(ex);
    else this.pool.release(this); // its exchange was aborted while connecting
  }

  private write(ex: H1Exchange): void {
    this.state = S_BUSY;
    const s = this.socket;
    const body = ex.req.body;
    const cl = ex.req.contentLength;
    if (body === null || cl === 0) {
      ex.requestSent = true;
      s.write(ex.head, 'latin1');
      ex.sentAt = Date.now();
    } else if (cl > 0 && cl <= INLINE_BODY_MAX && body.readableLength >= cl && !body.readableObjectMode) {
      const data = body.read(cl) as Buffer | null;
      if (data === null || data.length !== cl) {
        this.fail(ex, 'H1_REQUEST_BODY', 'request body shorter than content-length', null);
        return;
      }
      ex.requestSent = true;
      const headLen = ex.head.length;
      const out = Buffer.allocUnsafe(headLen + cl);
      out.write(ex.head, 0, headLen, 'latin1');
      data.copy(out, headLen);
      s.write(out);
      ex.sentAt = Date.now();
    } else {
      // The head waits for the first body byte (as in undici): a body that fails before any
      // data, e.g. malformed framing from the client, never reaches the upstream.
      this.streamBody(ex, body, cl);
    }
    if (ex.paused) s.pause();
  }

  // ---- request body ----------------------------------------------------------

  private streamBody(ex: H1Exchange, body: Readable, cl: number): void {
    if (body.destroyed && !body.readableEnded) {
      this.fail(ex, 'H1_REQUEST_BODY', 'request body stream destroyed', null);
      return;
    }
    this.body = body;
    this.bodyChunked = cl < 0;
    this.bodyRemaining = cl;
    this.bodyWaitingDrain = false;
    if (body.readableEnded) {
      this.onBodyEnd();
      return;
    }
    body.on('data', this.onBodyDataBound);
    body.on('end', this.onBodyEndBound);
    body.on('error', this.onBodyErrorBound);
    body.on('close', this.onBodyCloseBound);
    body.resume();
  }

  private detachBody(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    this.bodyWaitingDrain = false;
    body.off('data', this.onBodyDataBound);
    body.off('end', this.onBodyEndBound);
    body.off('error', this.onBodyErrorBound);
    body.off('close', this.onBodyCloseBound);
    body.pause();
  }

  private onBodyData(c: Buffer | string): void {
    const ex = this.ex;
    if (ex === null || this.body === null) return;
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    const n = chunk.length;
    if (n === 0) return; // a zero-size chunk would end a chunked body
    const s = this.socket;
    if (!this.bodyChunked && n > this.bodyRemaining) {
      this.fail(ex, 'H1_REQUEST_BODY', 'request body longer than content-length', null);
      return;
    }
    let ok: boolean;
    s.cork();
    if (!ex.requestSent) {
      ex.requestSent = true;
      s.write(ex.head, 'latin1');
    }
    if (this.bodyChunked) {
      s.write(n.toString(16) + '\r\n', 'latin1');
      s.write(chunk);
      ok = s.write('\r\n', 'latin1');
    } else {
      this.bodyRemaining -= n;
      ok = s.write(chunk);
    }
    s.uncork();
    if (!ok) {
      this.bodyWaitingDrain = true;
      ex.activity = true;
      this.body.pause();
    }
  }

  private onDrain(): void {
    if (!this.bodyWaitingDrain || this.body === null) return;
    this.bodyWaitingDrain = false;
    if (this.ex !== null) this.ex.activity = true;
    this.body.resume();
  }

  private onBodyEnd(): void {
    const ex = this.ex;
    if (ex === null || this.body === null) return;
    if (!this.bodyChunked && this.bodyRemaining !== 0) {
      this.fail(ex, 'H1_REQUEST_BODY', 'request body shorter than content-length', null);
      return;
    }
    this.detachBody();
    const head = ex.requestSent ? '' : ex.head;
    ex.requestSent = true;
    if (this.bodyChunked) this.socket.write(head + '0\r\n\r\n', 'latin1');
    else if (head !== '') this.socket.write(head, 'latin1');
    if (!ex.responseStarted) ex.sentAt = Date.now();
  }

  private onBodyError(err: Error | null): void {
    const ex = this.ex;
    if (ex === null || this.body === null) return;
    this.fail(ex, 'H1_REQUEST_BODY', err === null ? 'request body closed before its end' : `request body failed: ${err.message}`, err);
  }

  // ---- response --------------------------------------------------------------

  private onData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null || this.state !== S_BUSY) {
      this.destroy(); // bytes nobody asked for: the connection is out of sync
      return;
    }
    if (!ex.requestSent) {
      // Still waiting for the first body byte: this is not our response (e.g. a server's 408 before it drops the socket).
      this.fail(ex, 'H1_RESET', 'upstream sent bytes before the request', null);
      return;
    }
    ex.gotBytes = true;
    this.process(ex, chunk, 0);
  }

  private process(ex: H1Exchange, chunk: Buffer, off: number): void {
    const r = this.parser.execute(chunk, off);
    if (this.ex !== ex) return; // aborted, failed or a handler threw during a callback
    if (r < 0) {
      this.fail(ex, 'H1_PROTOCOL', `invalid upstream response: ${this.parser.error}`, null);
    } else if (this.parser.state === P_DONE) {
      this.complete(ex, r === chunk.length);
    } else {
      if (r < chunk.length) {
        // The handler paused mid-chunk: keep the rest (no copy) until resume().
        this.held = chunk;
        this.heldOff = r;
      }
      if (ex.responseStarted) this.readEnd(ex);
    }
  }

  private readEnd(ex: H1Exchange): void {
    try {
      ex.handler.onReadEnd?.();
    } catch (err) {
      this.handlerThrew(ex, err);
    }
  }

  resumeReading(): void {
    if (this.held !== null) process.nextTick(this.processHeldBound);
    else this.socket.resume();
  }

  private processHeld(): void {
    const ex = this.ex;
    const held = this.held;
    if (ex === null || held === null || ex.paused) return;
    this.held = null;
    this.process(ex, held, this.heldOff);
    if (this.ex === ex && !ex.paused && this.held === null) this.socket.resume();
  }

  onHead(status: number, statusText: string, headers: string[], contentLength: number): boolean {
    const ex = this.ex!;
    ex.responseStarted = true;
    ex.activity = true;
    try {
      ex.handler.onResponseStart(status, statusText, headers, contentLength);
    } catch (err) {
      this.handlerThrew(ex, err);
      return false;
    }
    return this.ex === ex && !ex.paused;
  }

  onBody(chunk: Buffer): boolean {
    const ex = this.ex!;
    ex.activity = true;
    try {
      ex.handler.onResponseData(chunk);
    } catch (err) {
      this.handlerThrew(ex, err);
      return false;
    }
    return this.ex === ex && !ex.paused;
  }

  private complete(ex: H1Exchange, noExtraBytes: boolean): void {
    const p = this.parser;
    // Reusable only after a clean exchange: keep-alive, no stray bytes, request body fully sent.
    let reusable = noExtraBytes && p.keepAlive && this.body === null;
    if (p.keepAliveHintMs >= 0) {
      const hint = p.keepAliveHintMs - 1000;
      if (hint <= 0) reusable = false;
      this.idleTimeout = Math.min(this.pool.keepAliveMs, hint);
    } else {
      this.idleTimeout = this.pool.keepAliveMs;
    }
    this.detachBody();
    this.ex = null;
    this.held = null;
    ex.conn = null;
    ex.done = true;
    this.served++;
    try {
      ex.handler.onResponseEnd();
    } catch {
      reusable = false;
    }
    if (!reusable || this.state !== S_BUSY) {
      this.destroy();
      return;
    }
    // Paused by the handler, or still paused from a held chunk: an idle socket must flow (to see 'end').
    if (this.socket.isPaused()) this.socket.resume();
    this.pool.release(this);
  }

  private handlerThrew(ex: H1Exchange, err: unknown): void {
    this.fail(ex, 'H1_HANDLER', `response handler threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }

  // ---- end of the connection ---------------------------------------------------

  private onEnd(): void {
    const ex = this.ex;
    if (ex !== null && this.state === S_BUSY && this.held === null && this.parser.finishEof()) {
      this.complete(ex, true); // close-delimited body
      return;
    }
    this.onSocketError(null);
  }

  private onSocketError(err: Error | null): void {
    const ex = this.ex;
    if (ex !== null) {
      if (this.state === S_CONNECTING) {
        const code = (err as NodeJS.ErrnoException | null)?.code ?? 'ECONNRESET';
        this.fail(ex, code, err?.message ?? 'connection closed while connecting', err);
      } else {
        this.fail(ex, 'H1_RESET', err === null ? 'upstream closed the connection before the response completed' : `upstream connection failed: ${err.message}`, err);
      }
    }
    this.destroy();
  }

  /** Finish `ex` with an error (or retry it once on a fresh socket) and drop this socket. */
  fail(ex: H1Exchange, code: string, message: string, cause: unknown): void {
    if (this.ex !== ex) return;
    this.detachBody();
    this.ex = null;
    this.held = null;
    ex.conn = null;
    // Retry once on a fresh socket when it cannot duplicate anything: nothing was written yet
    // (waiting for the first body byte), or the stale keep-alive race (the server closed a
    // reused socket as we wrote a replayable request to it).
    if (code === 'H1_RESET' && !ex.gotBytes && !ex.retried && !this.pool.destroyed &&
      (!ex.requestSent || (this.served > 0 && ex.req.body === null && isIdempotent(ex.req.method)))) {
      ex.retried = true;
      ex.requestSent = false;
      ex.sentAt = 0;
      this.pool.requeueFirst(ex);
      this.destroy();
      return;
    }
    ex.done = true;
    this.destroy();
    this.pool.report(ex, h1Error(code, message, ex.requestSent, cause));
  }

  destroy(): void {
    if (this.state === S_CLOSED) return;
    const wasIdle = this.state === S_IDLE;
    this.state = S_CLOSED;
    this.detachBody();
    this.socket.destroy();
    const ex = this.ex;
    if (ex !== null) {
      // Only reached from pool.destroy() paths that reported already, or abort().
      this.ex = null;
      ex.conn = null;
    }
    this.pool.removed(this, wasIdle);
  }
}

interface Target { host: string; port: number; tls: boolean; servername: string | undefined; rejectUnauthorized: boolean }

/** Keep-alive pool for one origin (http://host:port or https://host:port). */
export class H1Pool implements UpstreamClient {
  /** @internal */ readonly target: Target;
  /** @internal */ readonly maxHeaderBytes: number;
  /** @internal */ readonly keepAliveMs: number;
  /** @internal */ destroyed = false;
  private readonly opts: H1PoolOptions;
  private readonly conns: H1Conn[] = [];
  private readonly idle: H1Conn[] = [];
  private pending: (H1Exchange | null)[] = [];
  private pendingHead = 0;
  private pendingCount = 0;
  private closing = false;
  private closed = false;
  private closeResolve: (() => void) | null = null;
  private closePromise: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  private readonly tickBound = (): void => this.tick();

  constructor(origin: string, opts: H1PoolOptions) {
    const u = new URL(origin);
    const isTls = u.protocol === 'https:';
    if (!isTls && u.protocol !== 'http:') throw new Error(`unsupported origin protocol ${u.protocol}`);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.target = {
      host,
      port: u.port === '' ? (isTls ? 443 : 80) : Number(u.port),
      tls: isTls,
      servername: opts.tls?.servername ?? (net.isIP(host) === 0 ? host : undefined),
      rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true,
    };
    if (!(opts.connections >= 1)) throw new Error('connections must be at least 1');
    this.opts = opts;
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
    this.keepAliveMs = opts.keepAliveMs;
    // Coarse enough to cost nothing, fine enough for small test timeouts.
    const shortest = Math.min(opts.connectTimeoutMs, opts.headersTimeoutMs, opts.bodyTimeoutMs, opts.keepAliveMs);
    this.tickMs = Math.max(20, Math.min(250, Math.floor(shortest / 8)));
  }

  /** Start one exchange. Callbacks are never called synchronously from here. */
  request(req: H1Request, handler: H1Handler): H1Control {
    const ex = new H1Exchange(this, req, handler, req.headersTimeoutMs ?? this.opts.headersTimeoutMs);
    if (this.closing) {
      process.nextTick(reportLater, ex, h1Error('H1_CLOSED', 'upstream pool is closed', false));
      return ex;
    }
    try {
      ex.head = requestHead(req.method, req.path, req.headers, req.body !== null, req.contentLength);
    } catch (err) {
      process.nextTick(reportLater, ex, h1Error('H1_REQUEST_HEAD', (err as Error).message, false));
      return ex;
    }
    this.dispatch(ex);
    return ex;
  }

  /** @internal Idle socket (LIFO), else a new one, else the queue. */
  dispatch(ex: H1Exchange): void {
    if (this.destroyed) {
      ex.done = true;
      this.report(ex, h1Error('H1_CLOSED', 'upstream pool destroyed', false));
      return;
    }
    this.ensureTimer();
    const idle = this.idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (c.socket.destroyed || !c.socket.writable) {
        c.destroy();
        continue;
      }
      c.start(ex);
      return;
    }
    if (this.conns.length < this.opts.connections) this.connect(ex);
    else this.enqueue(ex);
  }

  stats(): { connected: number; free: number; pending: number; running: number } {
    let connected = 0, running = 0;
    for (const c of this.conns) {
      if (c.state !== S_CONNECTING) connected++;
      if (c.ex !== null) running++;
    }
    return { connected, free: this.idle.length, pending: this.pendingCount, running };
  }

  /** Stop accepting (new requests fail with H1_CLOSED); resolve when queued and running exchanges finished and sockets are closed. */
  close(): Promise<void> {
    this.closing = true;
    if (this.closed && this.closePromise === null) return Promise.resolve();
    this.closePromise ??= new Promise<void>((resolve) => { this.closeResolve = resolve; });
    this.maybeClosed();
    return this.closePromise;
  }

  /** Close every socket now; queued and running exchanges get H1_CLOSED. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closing = true;
    const err = (ex: H1Exchange): H1Error => h1Error('H1_CLOSED', 'upstream pool destroyed', ex.requestSent);
    for (let ex = this.dequeue(); ex !== null; ex = this.dequeue()) {
      ex.done = true;
      this.report(ex, err(ex));
    }
    for (const c of this.conns.slice()) {
      const ex = c.ex;
      if (ex !== null) {
        c.ex = null;
        ex.conn = null;
        ex.done = true;
        c.destroy();
        this.report(ex, err(ex));
      } else {
        c.destroy();
      }
    }
    this.maybeClosed();
  }

  // ---- internals (used by H1Conn / H1Exchange) ---------------------------------

  private connect(ex: H1Exchange): void {
    const c = new H1Conn(this);
    this.conns.push(c);
    c.start(ex);
  }

  private enqueue(ex: H1Exchange): void {
    ex.queued = true;
    ex.queuedAt = Date.now();
    this.pending.push(ex);
    this.pendingCount++;
  }

  /** @internal A stale-socket retry goes first, on a fresh connection (see removed()). */
  requeueFirst(ex: H1Exchange): void {
    ex.queued = true;
    ex.queuedAt = Date.now();
    if (this.pendingHead > 0) this.pending[--this.pendingHead] = ex;
    else this.pending.unshift(ex);
    this.pendingCount++;
  }

  private dequeue(): H1Exchange | null {
    const q = this.pending;
    while (this.pendingHead < q.length) {
      const ex = q[this.pendingHead];
      q[this.pendingHead++] = null;
      if (ex !== null && ex !== undefined && ex.queued) {
        ex.queued = false;
        this.pendingCount--;
        if (this.pendingHead === q.length) { q.length = 0; this.pendingHead = 0; }
        return ex;
      }
    }
    q.length = 0;
    this.pendingHead = 0;
    return null;
  }

  /** @internal A socket finished an exchange cleanly: next queued exchange, else idle. */
  release(c: H1Conn): void {
    if (!this.destroyed) {
      const next = this.dequeue();
      if (next !== null) {
        c.start(next);
        return;
      }
    }
    if (this.closing) {
      c.destroy();
      return;
    }
    c.state = S_IDLE;
    c.idleSince = Date.now();
    this.idle.push(c);
  }

  /** @internal A socket is gone: forget it, and open a fresh one for the queue if there is room. */
  removed(c: H1Conn, wasIdle: boolean): void {
    const i = this.conns.indexOf(c);
    if (i !== -1) this.conns.splice(i, 1);
    if (wasIdle) {
      const j = this.idle.indexOf(c);
      if (j !== -1) this.idle.splice(j, 1);
    }
    while (this.pendingCount > 0 && this.conns.length < this.opts.connections && !this.destroyed) {
      const ex = this.dequeue();
      if (ex === null) break;
      this.connect(ex);
    }
    this.maybeClosed();
  }

  /** @internal Called by H1Exchange.abort(). Silent. */
  abandon(ex: H1Exchange): void {
    if (ex.queued) {
      ex.queued = false;
      this.pendingCount--;
    }
    const c = ex.conn;
    if (c !== null) {
      ex.conn = null;
      c.ex = null;
      // A socket still connecting is healthy: keep it for the next request.
      if (c.state !== S_CONNECTING) c.destroy();
    }
    this.maybeClosed();
  }

  /** @internal Deliver an error; a throwing handler cannot hurt the pool here. */
  report(ex: H1Exchange, err: H1Error): void {
    try {
      ex.handler.onError(err);
    } catch {
      // the exchange is over; nothing to protect
    }
  }

  private maybeClosed(): void {
    if (!this.closing || this.closed || this.pendingCount > 0) return;
    for (const c of this.conns) if (c.ex !== null) return;
    this.closed = true;
    for (const c of this.conns.slice()) c.destroy();
    this.stopTimer();
    const resolve = this.closeResolve;
    this.closeResolve = null;
    if (resolve !== null) resolve();
  }

  private ensureTimer(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(this.tickBound, this.tickMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Every timeout of the pool: connect, headers, body idle, queue wait, idle sockets. */
  private tick(): void {
    const now = Date.now();
    const conns = this.conns;
    const o = this.opts;
    for (let i = conns.length - 1; i >= 0; i--) {
      const c = conns[i];
      if (c === undefined) continue;
      const ex = c.ex;
      if (c.state === S_CONNECTING) {
        if (now - c.connectStart >= o.connectTimeoutMs) {
          if (ex !== null) c.fail(ex, 'ETIMEDOUT', `connect timeout after ${o.connectTimeoutMs} ms`, null);
          else c.destroy();
        }
      } else if (c.state === S_IDLE) {
        if (now - c.idleSince >= c.idleTimeout) c.destroy();
      } else if (ex !== null) {
        if (ex.activity) {
          ex.activity = false;
          ex.lastActivity = now;
        }
        if (!ex.responseStarted) {
          if (ex.sentAt > 0) {
            if (now - ex.sentAt >= ex.headersTimeoutMs) c.fail(ex, 'H1_HEADERS_TIMEOUT', `no response head within ${ex.headersTimeoutMs} ms`, null);
          } else if (c.bodyWaitingDrain && now - ex.lastActivity >= o.bodyTimeoutMs) {
            c.fail(ex, 'H1_BODY_TIMEOUT', `upstream stopped reading the request body for ${o.bodyTimeoutMs} ms`, null);
          }
        } else if (ex.paused) {
          ex.lastActivity = now; // a paused exchange waits for its consumer, not for the upstream
        } else if (now - ex.lastActivity >= o.bodyTimeoutMs) {
          c.fail(ex, 'H1_BODY_TIMEOUT', `no response body bytes for ${o.bodyTimeoutMs} ms`, null);
        }
      }
    }
    if (this.pendingCount > 0) {
      const q = this.pending;
      for (let i = this.pendingHead; i < q.length; i++) {
        const ex = q[i];
        if (ex === null || ex === undefined || !ex.queued) continue;
        if (now - ex.queuedAt >= ex.headersTimeoutMs) {
          ex.queued = false;
          this.pendingCount--;
          q[i] = null;
          ex.done = true;
          this.report(ex, h1Error('H1_HEADERS_TIMEOUT', `no upstream connection free within ${ex.headersTimeoutMs} ms`, false));
        }
      }
    }
    if (conns.length === 0 && this.pendingCount === 0) this.stopTimer();
  }
}

function reportLater(ex: H1Exchange, err: H1Error): void {
  if (ex.done) return;
  ex.done = true;
  ex.pool.report(ex, err);
}
