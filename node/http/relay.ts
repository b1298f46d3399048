// One request's life from the uWS handler to the last response byte: the request
// body (request-body.ts), the pipeline's sink, the upstream handler (streaming
// the response back with backpressure), retries, errors, how it ended (outcome, reason)
// and the finish guard. uWS rules: write only inside cork() and only while not aborted.
import type { HttpResponse } from 'uWebSockets.js';
import { isConnectFailure, retryOnAnotherTarget, type H1Control, type H1Error, type H1Handler } from '../upstream/h1-client.js';
import { proxyError, type ErrorCode, type ProxyError } from '../errors.js';
import { beforeHeadFailure, midBodyFailure } from './upstream-failure.js';
import type { RequestContext } from '../pipeline/context.js';
import type { PipelineSink, UpstreamRequest } from '../pipeline/index.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';
import { RequestBody, type BodyOwner } from './request-body.js';
import { writeError } from './respond.js';
import { writeUpstreamHead } from './response-head.js';
import type { Snapshot } from '../pipeline/snapshot.js';

const EMPTY = Buffer.alloc(0);

/**
 * The relay whose write is being corked: res.cork() runs its callback synchronously, so the
 * callbacks below are module-level functions, not a closure (or a bound method) per request.
 */
let corked: Relay | null = null;
function writeLoneHeadCorked(): void { const r = corked!; corked = null; r.writeLoneHead(); }
function writeChunkCorked(): void { const r = corked!; corked = null; r.writeChunk(); }
function endResponseCorked(): void { const r = corked!; corked = null; r.endResponse(); }

/**
 * uWebSockets.js drops an HTTP connection that makes no write progress for its fixed idle
 * timeout (10 s on a coarse timer: measured 8.5–12 s). A connection that ends after the proxy
 * waited this long for the client to read was cut for being a slow reader, not closed by it.
 */
const UWS_STALL_CUT_MS = 8_000;

/**
 * How a request ended, as the client saw it (access log `outcome`, README "Logs"):
 * `complete` — a whole response was written (the upstream's, or the proxy's own error);
 * `truncated` — the proxy cut the client connection mid-response (upstream reset, body timeout
 * or protocol error after the head, revocation, shutdown); `aborted` — the client connection
 * ended first (the client closed it, or uWS dropped a client that stopped reading).
 */
export type Outcome = 'complete' | 'truncated' | 'aborted';

/** Callbacks into the listener (metrics, logs, lifecycle) so the relay stays I/O only. */
export interface RelayHost {
  finished(relay: Relay): void;
  upstreamError(upstream: string, kind: string): void;
  bodyStarted(relay: Relay): void;
  bodyEnded(relay: Relay): void;
  /** A response head of unknown length waits for its first body byte (uWS limitation, README "Limitations"). */
  headHeld(relay: Relay): void;
  /** An auth decision of the pipeline (metrics). */
  decision(reason: string | null): void;
  /** A WebSocket route: connect upstream and upgrade when `relay` is an accepted upgrade; false for an ordinary request. */
  upgrade(relay: Relay, req: UpstreamRequest): boolean;
}


export class Relay implements H1Handler, PipelineSink, BodyOwner {
  readonly res: HttpResponse;
  readonly host: RelayHost;
  readonly snap: Snapshot;
  readonly ctx: RequestContext;
  readonly start: number;
  readonly head: boolean;
  aborted = false;
  /** A response (error or upstream) has been completely written or abandoned. */
  done = false;
  /**
   * While running: the upstream's status once its head arrived (0 before). After finish(): the
   * status the client received, 499 when the client went away before any status was written.
   */
  status = 0;
  outcome: Outcome = 'complete';
  /** The proxy's own error response, when it answered with one. */
  errorCode: ErrorCode | null = null;
  bytesOut = 0;
  upstreamStart = 0;
  upstreamMs = -1;
  /** Why the request did not end as a complete relay of the upstream's answer (access log `reason`); null when it did. */
  errorKind: string | null = null;
  /** Status line written to the client (upstream head or own error); 0 while nothing was written. */
  private sent = 0;

  // request body
  body: RequestBody | null = null;
  bodyComplete = true;
  private readonly maxBody: number;

  // upstream
  upstream: UpstreamPool | null = null;
  target: Target | null = null;
  private path = '';
  private outHeaders: string[] | null = null;
  private hostIdx = -1;
  private attempt = 0;
  private controller: H1Control | null = null;
  private headersWritten = false;
  private respStatus = 0;
  private respStatusMessage = '';
  private respHeaders: string[] | null = null;
  private totalSize = -1; // content-length of the response, -1 = chunked
  private pending: Buffer | null = null;
  private pendingOffset = 0;
  private writableRegistered = false;
  /** performance.now() when the client stopped draining (waiting for onWritable); 0 while it keeps up. */
  private blockedSince = 0;
  /** A head to write at the end of the current upstream read unless body bytes took it along. */
  private headDue = false;
  private upstreamEnded = false;
  private pendingChunk: Buffer | null = null;

  constructor(res: HttpResponse, host: RelayHost, snap: Snapshot, ctx: RequestContext, start: number, maxBody: number) {
    this.res = res;
    this.host = host;
    this.snap = snap;
    this.ctx = ctx;
    this.start = start;
    this.head = ctx.method === 'HEAD';
    this.maxBody = maxBody;
  }

  // ---- client side -------------------------------------------------------

  onAborted(): void {
    this.aborted = true;
    if (this.controller !== null && !this.controller.aborted) this.controller.abort();
    if (this.body !== null && !this.body.destroyed) this.body.destroy();
    if (this.done) return;
    if (this.blockedSince > 0 && performance.now() - this.blockedSince >= UWS_STALL_CUT_MS) {
      this.outcome = 'truncated'; // uWS (the proxy's side) cut a client that stopped reading
      this.errorKind ??= 'slow_reader';
    } else {
      this.outcome = 'aborted';
      this.errorKind ??= 'client_closed';
    }
    this.finish(499);
  }

  /** Start collecting the request body; must be called synchronously in the uWS handler. */
  expectBody(deadline: number, contentLength: number): void {
    this.body = new RequestBody(this, deadline, contentLength, this.maxBody, this.start);
    this.bodyComplete = false;
    this.host.bodyStarted(this);
  }

  get bytesIn(): number {
    return this.body === null ? 0 : this.body.bytesIn;
  }

  /** performance.now() by which the request body must have arrived; 0 without a body. */
  get bodyDeadline(): number {
    return this.body === null ? 0 : this.body.deadline;
  }

  /** BodyOwner */
  bodyEnded(): void {
    this.bodyComplete = true;
    this.host.bodyEnded(this);
  }

  /** BodyOwner */
  bodyTooLarge(maxBody: number): void {
    this.failRequestBody(proxyError('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBody} bytes`), 'body_too_large');
  }

  /** The listener's sweep: re-arm uWS's body timer of a slow upload (RequestBody.keepAlive) until a response starts. True when re-armed. */
  keepBodyAlive(now: number): boolean {
    if (this.body === null || this.done || this.aborted || this.respStatus !== 0) return false;
    return this.body.keepAlive(now);
  }

  /** Body too large or too slow: answer (if nothing was sent yet) and stop the upstream. */
  failRequestBody(err: ProxyError, kind: string): void {
    this.errorKind = kind;
    if (this.controller !== null && !this.controller.aborted) this.controller.abort();
    if (this.body !== null && !this.body.destroyed) this.body.destroy();
    if (this.headersWritten) {
      this.cut(kind);
      return;
    }
    this.sendError(err, true);
  }

  /**
   * Shutdown after the drain period: the upstream request is cancelled and the client
   * connection closed at once (an answer written now could keep the process waiting for a
   * client that does not read it).
   */
  shutdown(): void {
    if (this.done || this.aborted) return;
    if (this.controller !== null && !this.controller.aborted) this.controller.abort();
    if (this.body !== null && !this.body.destroyed) this.body.destroy();
    this.cut('shutdown');
  }

  // ---- responses -------------------------------------------------------------

  /** Answer with an error (only if nothing was written yet). Safe to call twice. */
  sendError(err: ProxyError, closeConnection = !this.bodyComplete): void {
    if (this.done || this.aborted) return;
    let status = 0;
    this.res.cork(() => { status = writeError(this.res, err, this.snap.realm, closeConnection, this.head, this.snap.policyHeader); });
    this.sent = status;
    this.errorCode = err.code;
    this.finish(status);
  }

  /**
   * Cut the relay: the client connection is closed, so the client sees the response
   * incomplete — or, when nothing was written yet, no response at all (logged as status 0).
   */
  private cut(reason: string): void {
    if (this.done) return;
    this.outcome = 'truncated';
    this.errorKind ??= reason;
    this.finish(0);
    if (!this.aborted) this.res.close(); // → onAborted, which finds the relay done
  }

  /**
   * End a response whose body is still streaming (SSE…) because its token was revoked or
   * expired (node/ws): the client connection is closed, so the client sees the stream end
   * without a last chunk. `reason` goes to the access log. False when no response is streaming.
   */
  endStream(reason: string): boolean {
    if (this.done || this.aborted || this.status === 0) return false;
    this.ctx.denyReason = reason;
    this.errorKind = reason;
    if (this.controller !== null && !this.controller.aborted) this.controller.abort();
    this.cut(reason);
    return true;
  }

  /** The end, once: `status` is reported (0: none reached the client) unless a status line was written or the client left first. */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.status = this.sent !== 0 ? this.sent : this.aborted ? 499 : status;
    if (this.aborted && this.outcome === 'complete') this.outcome = 'aborted';
    if (!this.bodyComplete) this.host.bodyEnded(this);
    this.host.finished(this);
  }

  // ---- forwarding ------------------------------------------------------------

  // ---- PipelineSink: how the pipeline's outcome reaches this client ---------------

  get closed(): boolean {
    return this.done || this.aborted;
  }

  decision(reason: string | null): void {
    this.host.decision(reason);
  }

  deny(error: ProxyError): void {
    this.sendError(error);
  }

  /** Send the request to the upstream (or hand an accepted WebSocket upgrade to node/ws). */
  forward(req: UpstreamRequest): void {
    if (this.done || this.aborted) return;
    if (this.ctx.route.config.websocket && this.host.upgrade(this, req)) return;
    this.upstream = req.upstream;
    this.path = req.path;
    this.outHeaders = req.headers;
    this.hostIdx = req.hostIdx;
    this.dispatch(null);
  }

  private dispatch(avoid: Target | null): void {
    const up = this.upstream!;
    const t = up.pick(Date.now(), avoid);
    this.target = t;
    if (this.hostIdx >= 0) this.outHeaders![this.hostIdx] = t.hostPort;
    this.upstreamStart = performance.now();
    this.controller = t.pool.request({
      method: this.ctx.method,
      path: this.path,
      headers: this.outHeaders!,
      body: this.body,
      contentLength: this.body === null ? 0 : this.body.contentLength,
      headersTimeoutMs: this.ctx.route.config.timeout_ms ?? up.config.timeouts.response_ms,
    }, this);
  }

  onResponseStart(status: number, statusText: string, headers: string[], contentLength: number): void {
    if (this.aborted || this.done) { this.controller?.abort(); return; }
    this.upstream!.succeeded(this.target!);
    this.upstreamMs = performance.now() - this.upstreamStart;
    this.respStatus = status;
    this.status = status;
    this.respStatusMessage = statusText;
    this.respHeaders = headers;
    const noBody = this.head || status === 204 || status === 304;
    this.totalSize = noBody ? 0 : contentLength;
    if (this.totalSize === 0) {
      // Nothing to stream: answer now in one corked write.
      corked = this;
      this.res.cork(endResponseCorked);
      return;
    }
    // The client must see the head even when the body is slow to come (SSE, long polls), but
    // not in a write of its own when the body is in the same upstream read (the common case):
    // the head goes out with the first body bytes, or at the end of this read on its own.
    this.headDue = true;
  }

  /** The upstream read is delivered: a head still unwritten goes out alone (known length) or is counted as held. */
  onReadEnd(): void {
    if (!this.headDue || this.done || this.aborted) return;
    this.headDue = false;
    if (this.totalSize > 0) {
      corked = this;
      this.res.cork(writeLoneHeadCorked);
    } else {
      // Unknown length (chunked or close-delimited): this uWS build cannot end a chunked head
      // without a body chunk (res.write('') writes nothing), so it waits for the first byte.
      this.host.headHeld(this);
    }
  }

  /** @internal Known length: tryEnd with no data writes the head with its Content-Length and sends it. */
  writeLoneHead(): void {
    this.writeHead();
    const lastOffset = this.res.getWriteOffset();
    const [ok] = this.res.tryEnd(EMPTY, this.totalSize);
    if (!ok) {
      this.pending = EMPTY;
      this.pendingOffset = lastOffset;
      this.waitWritable();
    }
  }

  private writeHead(): void {
    this.headersWritten = true;
    this.headDue = false;
    this.sent = this.respStatus;
    writeUpstreamHead(this.res, this.respStatus, this.respStatusMessage, this.respHeaders!, this.head, this.ctx.responseHeaders, this.snap.policyHeader);
  }

  onResponseData(chunk: Buffer): void {
    if (this.aborted || this.done || this.totalSize === 0) return;
    this.bytesOut += chunk.length;
    this.pendingChunk = chunk;
    corked = this;
    this.res.cork(writeChunkCorked);
  }

  /** @internal Inside res.cork(): the head if still unwritten, then `pendingChunk`. */
  writeChunk(): void {
    const chunk = this.pendingChunk!;
    this.pendingChunk = null;
    if (!this.headersWritten) this.writeHead();
    if (this.totalSize > 0) {
      const lastOffset = this.res.getWriteOffset();
      const [ok, done] = this.res.tryEnd(chunk, this.totalSize);
      if (done) { this.finish(this.respStatus); return; }
      if (!ok) {
        // kept until onWritable: a copy, the chunk is the upstream's reused read buffer
        this.pending = Buffer.from(chunk);
        this.pendingOffset = lastOffset;
        this.waitWritable();
      }
    } else if (!this.res.write(chunk)) { // uWS keeps what it could not send itself
      this.waitWritable();
    }
  }

  private waitWritable(): void {
    this.controller?.pause();
    if (this.blockedSince === 0) this.blockedSince = performance.now();
    if (!this.writableRegistered) {
      this.writableRegistered = true;
      this.res.onWritable((offset) => this.onWritable(offset)); // once per relay, only under backpressure
    }
  }

  private onWritable(offset: number): boolean {
    if (this.aborted || this.done) return true;
    if (this.pending !== null) {
      const [ok, done] = this.res.tryEnd(this.pending.subarray(offset - this.pendingOffset), this.totalSize);
      if (done) { this.pending = null; this.finish(this.respStatus); return true; }
      if (!ok) return false;
      this.pending = null;
    }
    this.blockedSince = 0;
    if (this.upstreamEnded) { this.endResponse(); return true; }
    this.controller?.resume();
    return true;
  }

  onResponseEnd(): void {
    this.upstreamEnded = true;
    if (this.aborted || this.done) return;
    if (this.pending !== null) return; // finished from onWritable
    corked = this;
    this.res.cork(endResponseCorked);
  }

  /** @internal Inside res.cork() (or onWritable): the end of a response whose body is all written. */
  endResponse(): void {
    if (this.done) return;
    const res = this.res;
    if (!this.headersWritten) this.writeHead();
    if (this.totalSize === 0) {
      // HEAD/204/304 carry no body: bare endWithoutBody() (Content-Length, if any, was
      // written as a header). This uWS build writes "Content-Length: 2^63" for
      // endWithoutBody(undefined, …) and treats endWithoutBody(n > 0) as unfinished.
      // Other statuses with an empty body get "Content-Length: 0" from end().
      if (this.head || this.respStatus === 204 || this.respStatus === 304) res.endWithoutBody();
      else res.end(undefined, !this.bodyComplete);
    } else if (this.totalSize > 0) {
      // Fewer bytes than Content-Length: the client must see a truncated response.
      this.cut('upstream_short_body');
      return;
    } else {
      res.end(undefined, !this.bodyComplete);
    }
    this.finish(this.respStatus);
  }

  onError(err: H1Error): void {
    if (this.done) return;
    if (this.aborted) { this.finish(499); return; }
    const up = this.upstream!;
    if (this.respStatus !== 0) {
      // Mid-body failure, reported against the upstream either way.
      const f = midBodyFailure(err, up.name, up.config.timeouts.idle_body_ms);
      this.host.upstreamError(up.name, f.metric!);
      // Head already out: cut the client connection so the client sees the body incomplete.
      if (this.headersWritten) { this.cut(f.reason); return; }
      // Nothing written yet (a held head): the client gets a clean answer instead of an empty reply.
      this.headDue = false;
      this.errorKind = f.reason;
      this.sendError(f.error, true);
      return;
    }
    if (this.errorKind !== null) return; // we aborted it ourselves (413/408) and answered already
    const connect = isConnectFailure(err);
    const f = beforeHeadFailure(err, up.name, connect);
    if (f.metric !== null) this.host.upstreamError(up.name, f.metric);
    if (connect) {
      up.connectFailed(this.target!, Date.now());
      if (retryOnAnotherTarget(err, this.attempt, this.body !== null, this.ctx.method, up.targets.length)) {
        this.attempt++;
        this.controller = null;
        this.dispatch(this.target);
        return;
      }
    }
    this.errorKind = f.reason;
    this.sendError(f.error);
  }
}
