// One request's life from the uWS handler to the last response byte: the request
// body stream (with backpressure and the body limit), the undici dispatch handler
// (streaming the response back with backpressure), retries, errors and the finish
// guard. uWS rules: write only inside cork() and only while not aborted.
import { Readable } from 'node:stream';
import type { HttpResponse } from 'uWebSockets.js';
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { proxyError, type ProxyError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';
import { statusLine, writeError } from './respond.js';
import type { Snapshot } from './snapshot.js';

/** Hop-by-hop response headers never copied to the client (plus those Connection names). */
const HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'date', 'proxy-authenticate']);

/** Errors that prove the request never reached the upstream (safe to retry elsewhere). */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** Callbacks into the listener (metrics, logs, lifecycle) so the exchange stays I/O only. */
export interface ExchangeHost {
  finished(ex: Exchange): void;
  upstreamError(upstream: string, kind: string): void;
  bodyStarted(ex: Exchange): void;
  bodyEnded(ex: Exchange): void;
}

/** Readable fed by uWS onData: push() false → pause the client socket, _read → resume. */
class BodyStream extends Readable {
  constructor(private readonly ex: Exchange) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _read(): void {
    this.ex.resumeClient();
  }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    cb(err);
  }
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly res: HttpResponse;
  readonly host: ExchangeHost;
  readonly snap: Snapshot;
  readonly ctx: RequestContext;
  readonly start: number;
  readonly head: boolean;
  aborted = false;
  /** A response (error or upstream) has been completely written or abandoned. */
  done = false;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  upstreamStart = 0;
  upstreamMs = -1;
  errorKind: string | null = null;

  // request body
  body: BodyStream | null = null;
  bodyComplete = true;
  bodyDeadline = 0;
  private clientPaused = false;
  private readonly maxBody: number;

  // upstream
  upstream: UpstreamPool | null = null;
  target: Target | null = null;
  private path = '';
  private outHeaders: string[] | null = null;
  private hostIdx = -1;
  private attempt = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private headersWritten = false;
  private respStatus = 0;
  private respStatusMessage = '';
  private respHeaders: IncomingHttpHeaders | null = null;
  private totalSize = -1; // content-length of the response, -1 = chunked
  private pending: Buffer | null = null;
  private pendingOffset = 0;
  private writableRegistered = false;
  private upstreamEnded = false;
  private readonly onWritableBound = (offset: number): boolean => this.onWritable(offset);

  constructor(res: HttpResponse, host: ExchangeHost, snap: Snapshot, ctx: RequestContext, start: number, maxBody: number) {
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
    if (this.controller !== null && !this.controller.aborted) this.controller.abort(new Error('client aborted'));
    if (this.body !== null && !this.body.destroyed) this.body.destroy();
    this.finish(499);
  }

  /** Start collecting the request body; must be called synchronously in the uWS handler. */
  expectBody(deadline: number): void {
    this.body = new BodyStream(this);
    this.bodyComplete = false;
    this.bodyDeadline = deadline;
    this.host.bodyStarted(this);
    this.res.onData((ab, isLast) => this.onBodyChunk(ab, isLast));
  }

  private onBodyChunk(ab: ArrayBuffer, isLast: boolean): void {
    const body = this.body;
    if (body === null || this.done) return;
    this.bytesIn += ab.byteLength;
    if (this.bytesIn > this.maxBody) {
      this.bodyComplete = true;
      this.host.bodyEnded(this);
      this.failRequestBody(proxyError('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${this.maxBody} bytes`), 'body_too_large');
      return;
    }
    // uWS neuters the ArrayBuffer on return: copy.
    if (ab.byteLength > 0 && !body.destroyed) {
      if (!body.push(Buffer.from(Buffer.from(ab)))) {
        this.clientPaused = true;
        this.res.pause();
      }
    }
    if (isLast) {
      this.bodyComplete = true;
      this.host.bodyEnded(this);
      if (!body.destroyed) body.push(null);
    }
  }

  resumeClient(): void {
    if (this.clientPaused && !this.aborted && !this.done) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  /** Body too large or too slow: answer (if nothing was sent yet) and stop the upstream. */
  failRequestBody(err: ProxyError, kind: string): void {
    this.errorKind = kind;
    if (this.controller !== null && !this.controller.aborted) this.controller.abort(new Error(kind));
    if (this.body !== null && !this.body.destroyed) this.body.destroy();
    if (this.headersWritten || this.respStatus !== 0) {
      this.closeConnection(this.status || 502);
      return;
    }
    this.sendError(err, true);
  }

  // ---- responses -------------------------------------------------------------

  /** Answer with an error (only if nothing was written yet). Safe to call twice. */
  sendError(err: ProxyError, closeConnection = !this.bodyComplete): void {
    if (this.done || this.aborted) return;
    let status = 0;
    this.res.cork(() => { status = writeError(this.res, err, this.snap.realm, closeConnection, this.head); });
    this.finish(status);
  }

  private closeConnection(status: number): void {
    if (this.done) return;
    if (!this.aborted) this.res.close(); // triggers onAborted → finish(499); report the real status
    this.finish(status);
  }

  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    if (this.status === 0) this.status = status;
    if (!this.bodyComplete) this.host.bodyEnded(this);
    this.host.finished(this);
  }

  // ---- forwarding ------------------------------------------------------------

  /** Send the request to the upstream. `headers` is the flat header list for the upstream. */
  forward(upstream: UpstreamPool, path: string, headers: string[], hostIdx: number): void {
    if (this.done || this.aborted) return;
    this.upstream = upstream;
    this.path = path;
    this.outHeaders = headers;
    this.hostIdx = hostIdx;
    this.dispatch(null);
  }

  private dispatch(avoid: Target | null): void {
    const up = this.upstream!;
    const t = up.pick(Date.now(), avoid);
    this.target = t;
    if (this.hostIdx >= 0) this.outHeaders![this.hostIdx] = t.hostPort;
    this.upstreamStart = performance.now();
    const timeout = this.ctx.route.config.timeout_ms ?? up.config.timeouts.response_ms;
    t.pool.dispatch({
      path: this.path,
      method: this.ctx.method as Dispatcher.HttpMethod,
      headers: this.outHeaders,
      body: this.body,
      headersTimeout: timeout,
      bodyTimeout: up.config.timeouts.idle_body_ms,
      // Never let undici replay a request on its own: we decide retries.
      idempotent: false,
      blocking: false,
    }, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.aborted || this.done) controller.abort(new Error('client gone'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (statusCode < 200) return; // 1xx informational: not relayed
    if (this.aborted || this.done) { controller.abort(new Error('client gone')); return; }
    this.upstream!.succeeded(this.target!);
    this.upstreamMs = performance.now() - this.upstreamStart;
    this.respStatus = statusCode;
    this.status = statusCode;
    this.respStatusMessage = statusMessage ?? '';
    this.respHeaders = headers;
    const cl = headers['content-length'];
    const noBody = this.head || statusCode === 204 || statusCode === 304;
    this.totalSize = noBody ? 0 : typeof cl === 'string' && /^\d+$/.test(cl) ? Number(cl) : -1;
  }

  private writeHead(): void {
    this.headersWritten = true;
    const res = this.res;
    const msg = this.respStatusMessage;
    res.writeStatus(msg !== '' && /^[\x20-\x7e\t]*$/.test(msg) ? `${this.respStatus} ${msg}` : statusLine(this.respStatus));
    const h = this.respHeaders!;
    const connection = h.connection;
    let named: Set<string> | null = null;
    if (connection !== undefined) {
      named = new Set(String(connection).toLowerCase().split(',').map((s) => s.trim()));
    }
    for (const name in h) {
      if (HOP_RESPONSE.has(name) || (named !== null && named.has(name))) continue;
      const v = h[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (let i = 0; i < v.length; i++) res.writeHeader(name, v[i]!);
      else res.writeHeader(name, v);
    }
    if (this.head || this.respStatus === 204 || this.respStatus === 304) {
      const cl = h['content-length'];
      if ((this.head || this.respStatus === 304) && typeof cl === 'string' && /^\d+$/.test(cl)) res.writeHeader('content-length', cl);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.aborted || this.done) return;
    if (this.totalSize === 0) return; // HEAD/204/304: nothing to relay
    this.bytesOut += chunk.length;
    this.res.cork(() => {
      if (!this.headersWritten) this.writeHead();
      if (this.totalSize > 0) {
        const lastOffset = this.res.getWriteOffset();
        const [ok, done] = this.res.tryEnd(chunk, this.totalSize);
        if (done) { this.finish(this.respStatus); return; }
        if (!ok) {
          this.pending = chunk;
          this.pendingOffset = lastOffset;
          this.waitWritable(controller);
        }
      } else if (!this.res.write(chunk)) {
        this.waitWritable(controller);
      }
    });
  }

  private waitWritable(controller: Dispatcher.DispatchController): void {
    controller.pause();
    if (!this.writableRegistered) {
      this.writableRegistered = true;
      this.res.onWritable(this.onWritableBound);
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
    if (this.upstreamEnded) { this.endResponse(); return true; }
    this.controller?.resume();
    return true;
  }

  onResponseEnd(): void {
    this.upstreamEnded = true;
    if (this.aborted || this.done) return;
    if (this.pending !== null) return; // finished from onWritable
    this.res.cork(() => this.endResponse());
  }

  private endResponse(): void {
    if (this.done) return;
    const res = this.res;
    if (!this.headersWritten) this.writeHead();
    if (this.totalSize === 0) {
      res.endWithoutBody(undefined, !this.bodyComplete);
    } else if (this.totalSize > 0) {
      // Fewer bytes than Content-Length: the client must see a truncated response.
      res.close();
    } else {
      res.end(undefined, !this.bodyComplete);
    }
    this.finish(this.respStatus);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    if (this.aborted) { this.finish(499); return; }
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const up = this.upstream!;
    if (this.respStatus !== 0) {
      // Mid-body failure: headers may already be out; cut the client connection.
      this.host.upstreamError(up.name, code === 'UND_ERR_BODY_TIMEOUT' ? 'body_timeout' : 'reset_mid_body');
      this.closeConnection(this.respStatus);
      return;
    }
    if (this.errorKind !== null) return; // we aborted it ourselves (413/408) and answered already
    if (CONNECT_ERRORS.has(code)) {
      up.connectFailed(this.target!, Date.now());
      this.host.upstreamError(up.name, 'connect');
      // One retry on another target, idempotent methods without a body only: the
      // connection failed before anything was sent.
      if (this.attempt === 0 && this.body === null && isIdempotent(this.ctx.method) && up.targets.length > 1) {
        this.attempt++;
        this.controller = null;
        this.dispatch(this.target);
        return;
      }
      this.sendError(proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${up.name}" refused the connection`));
      return;
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      this.host.upstreamError(up.name, 'timeout');
      this.sendError(proxyError('PORTCULLIS_ERR_UPSTREAM_TIMEOUT', `upstream "${up.name}" did not answer in time`));
      return;
    }
    this.host.upstreamError(up.name, code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' ? 'reset' : 'other');
    this.sendError(proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${up.name}" closed the connection`));
  }
}

function isIdempotent(m: string): boolean {
  return m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || m === 'PUT' || m === 'DELETE' || m === 'TRACE';
}
