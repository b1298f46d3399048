// One request on the HTTP/2 listener from the pipeline's verdict to the last response byte: the
// pipeline's sink, the upstream handler (response streamed back with backpressure: a write that
// reports a full buffer pauses the upstream until 'drain'), retries, errors and how it ended (endings from outside: h2-relay-end.ts).
// Works on the response of both protocols the listener serves (an HTTP/2 stream, HTTP/1.1 by ALPN).
import type { H1Control, H1Error, H1Handler } from '../upstream/h1-client.js';
import type { ErrorCode, ProxyError } from '../errors.js';
import { proxyError } from '../errors.js';
import type { Outcome } from '../http/relay.js';
import { answerMadePrivate, CHALLENGE_FILTERED, outboundRefused, upstreamChallenges, type PipelineSink, type RequestContext, type UpstreamRequest } from '../pipeline/index.js';
import type { Snapshot } from '../pipeline/snapshot.js';
import { H2Call } from '../upstream/h2-call.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';
import type { H2Body, H2BodyOwner } from './h2-body.js';
import { giveBackBody, readWholeFirst } from '../http/body-buffer.js';
import { writeH2Error, type AnyResponse } from './h2-respond.js';
import { h2BeforeHeadFailure, h2MidBodyFailure } from './h2-upstream-failure.js';
import { failedBeforeHead } from '../http/upstream-failure.js';
import { GrpcDeadlines, grpcTimeoutMs, type Deadlined } from './grpc-deadline.js';
import { GRPC, grpcMessage } from './grpc-status.js';
import { addPrivate, responseHeaders, responseTrailers } from './h2-response-headers.js';
import { resetStream } from './session-guard.js';
import { endPending, endStream, endWithGrpcStatus, type H2EndingRelay } from './h2-relay-end.js';
import type { H2RelayHostOf } from './h2-relay-host.js';
import { performance } from 'node:perf_hooks';

/** The listener's side of an HTTP/2 relay (h2-relay-host.ts). */
export type H2RelayHost = H2RelayHostOf<H2Relay>;

export class H2Relay implements H1Handler, PipelineSink, H2BodyOwner, Deadlined, H2EndingRelay {
  done = false;
  aborted = false;
  status = 0;
  outcome: Outcome = 'complete';
  errorCode: ErrorCode | null = null;
  errorKind: string | null = null;
  bytesOut = 0;
  upstreamMs = -1;
  body: H2Body | null = null;
  private bodyComplete = true;
  /** The upstream and target of the current attempt (read by the request's trace). */
  upstream: UpstreamPool | null = null;
  target: Target | null = null;
  private req: UpstreamRequest | null = null;
  /** @internal (h2-relay-end.ts) */
  controller: H1Control | null = null;
  upstreamStart = 0;
  /** @internal (h2-relay-end.ts) */
  headersWritten = false;
  private attempt = 0;
  private trailers: string[] | null = null;
  private drainArmed = false;
  private readonly head: boolean;
  /** performance.now() when a gRPC caller's grpc-timeout runs out; Infinity without one. */
  deadlineAt = Infinity;
  /** Index in the listener's GrpcDeadlines; -1 while not registered. */
  deadlineSlot = -1;
  /** Index in the listener's in-flight registry (node/slot-registry.ts); -1 while not registered. */
  slot = -1;
  /** Index in the listener's registry of requests whose body is still arriving; -1 while not registered. */
  bodySlot = -1;
  /** performance.now() since the client's side has been full (the upstream paused); 0 while it is not. */
  stalledSince = 0;
  /** Index in the listener's registry of stalled responses; -1 while not registered. */
  stallSlot = -1;
  private deadlineMs = 0;
  private deadlines: GrpcDeadlines | null = null;

  constructor(
    readonly res: AnyResponse,
    private readonly host: H2RelayHost,
    readonly snap: Snapshot,
    readonly ctx: RequestContext,
    readonly start: number,
    /** The request is gRPC: the proxy's own errors are trailers-only answers. */
    readonly grpc: boolean,
  ) {
    this.head = ctx.method === 'HEAD';
    res.on('close', () => this.onClose());
  }

  /** Bound the whole call by the caller's grpc-timeout (from `start`); false when it sent none. */
  withDeadline(deadlines: GrpcDeadlines): boolean {
    const ms = this.grpc ? grpcTimeoutMs(this.ctx.headers) : null;
    if (ms === null) return false;
    this.deadlineMs = ms;
    this.deadlineAt = this.start + ms;
    this.deadlines = deadlines;
    deadlines.add(this);
    return true;
  }

  /**
   * The grpc-timeout ran out: the upstream stream is reset (CANCEL) and the call ends with
   * grpc-status 4 DEADLINE_EXCEEDED — trailers-only before the response head, trailers after it.
   */
  deadlineExceeded(): void {
    if (this.closed) return;
    const streaming = this.headersWritten;
    this.host.deadlineExceeded(this, streaming);
    this.controller?.abort();
    this.body?.destroy();
    const err = proxyError('PORTCULLIS_ERR_H2_DEADLINE_EXCEEDED', `deadline exceeded: the call outlived its grpc-timeout of ${this.deadlineMs} ms`);
    if (!streaming) { this.sendError(err); return; }
    this.errorCode = err.code;
    const res = this.res;
    if (!('stream' in res) || res.stream === undefined) { this.cut('h2_deadline_exceeded'); return; }
    endWithGrpcStatus(this, res, GRPC.DEADLINE_EXCEEDED, grpcMessage(err.message));
  }

  get bytesIn(): number { return this.body === null ? 0 : this.body.bytesIn; }
  /** Attach the request body (before the pipeline runs). */
  setBody(body: H2Body): void {
    this.body = body;
    this.bodyComplete = false;
  }

  // ---- client side ---------------------------------------------------------

  private onClose(): void {
    if (this.done) return;
    // closed before the response ended: the client reset the stream or the connection went
    this.aborted = true;
    this.controller?.abort();
    this.body?.destroy();
    this.outcome = 'aborted';
    this.errorKind ??= 'client_closed';
    this.finish(499);
  }

  bodyEnded(): void {
    if (this.bodyComplete) return;
    this.bodyComplete = true;
    this.host.bodyEnded(this);
    // read whole (readWholeFirst): its dispatch waited for it; whole now, it waits for a connection as any complete small body does
    if (this.body!.budget > 0) {
      giveBackBody(this.body);
      if (!this.closed) this.dispatch(null);
    }
  }


  bodyTooLarge(maxBody: number): void {
    this.failRequestBody(proxyError('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBody} bytes`), 'body_too_large');
  }

  /** Body too large or too slow: answer (if nothing was sent yet) and stop the upstream. */
  failRequestBody(err: ProxyError, kind: string): void {
    this.errorKind = kind;
    this.controller?.abort();
    this.body?.destroy();
    if (this.headersWritten) { this.cut(kind); return; }
    this.sendError(err);
  }

  /** Shutdown after the drain period: cancel the upstream request and reset the stream. */
  shutdown(): void {
    if (this.done) return;
    this.controller?.abort();
    this.cut('shutdown');
  }

  // ---- PipelineSink ----------------------------------------------------------

  get closed(): boolean { return this.done || this.aborted; }
  decision(reason: string | null): void { this.host.decision(reason); }
  deny(error: ProxyError): void { this.sendError(error); }

  forward(req: UpstreamRequest): void {
    if (this.closed) return;
    this.upstream = req.upstream;
    this.req = req;
    // a body still arriving with a content-length within server.limits.buffer_request_body_bytes is read whole
    // first (bodyEnded dispatches): a slow sender holds no upstream connection (README "Slow uploads")
    if (!this.bodyComplete && readWholeFirst(this.body!, this.snap.config.server.limits, this.host, this.ctx, this.snap.config.server.trust_forwarded ? this.snap.config.server.trusted_hops : 0)) return;
    this.dispatch(null);
  }


  private dispatch(avoid: Target | null): void {
    const up = this.upstream!;
    const req = this.req!;
    const t = up.pickNow(avoid);
    this.target = t;
    if (req.hostIdx >= 0) req.headers[req.hostIdx] = t.hostPort;
    this.upstreamStart = performance.now();
    this.controller = t.pool.request({
      method: this.ctx.method,
      path: req.path,
      headers: req.headers,
      body: this.body,
      contentLength: this.body === null ? 0 : this.body.contentLength,
      // a gRPC caller's grpc-timeout bounds the whole call (deadlineExceeded), this only the head
      headersTimeoutMs: this.ctx.route.config.timeout_ms ?? up.config.timeouts.response_ms,
    }, this);
  }

  // ---- responses -------------------------------------------------------------

  /** Answer with an error if nothing was written yet. Safe to call twice. */
  sendError(err: ProxyError): void {
    if (this.closed) return;
    if (this.headersWritten) { this.cut(err.code); return; }
    this.errorCode = err.code;
    this.headersWritten = true;
    const unread = !this.bodyComplete;
    const status = writeH2Error(this.res, err, this.snap.realm, this.head, this.grpc, this.snap.policyHeader);
    this.finish(status);
    // a body still arriving would be read and dropped without bound: RST_STREAM NO_ERROR after the answer (RFC 9113 §8.1)
    if (unread && 'stream' in this.res) this.res.stream.close(0 /* NO_ERROR */);
  }

  /**
   * Cut the response: the h2 stream is reset (HTTP/1.1: the connection closed), so the client sees
   * it incomplete — RST_STREAM without END_STREAM, not counted as the client's reset (session-guard.ts).
   */
  /** @internal (h2-relay-end.ts) */
  cut(reason: string, rstCode = 0x8 /* CANCEL */): void {
    if (this.done) return;
    this.outcome = 'truncated';
    this.errorKind ??= reason;
    this.finish(this.headersWritten ? this.status : 0);
    const res = this.res;
    if ('stream' in res && res.stream !== undefined) resetStream(res.stream, rstCode); else res.destroy();
  }

  /** A streamed response's token was revoked or expired, or a reload refuses it (h2-relay-end.ts); false when none is streaming. */
  endStream(reason: string): boolean { return endStream(this, reason); }

  /** Its token was revoked before the response head: upstream cancelled, `err` answered (h2-relay-end.ts); false once a response started. */
  endPending(reason: string, err: ProxyError): boolean { return endPending(this, reason, err); }

  /** @internal (h2-relay-end.ts) */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.status = status;
    this.deadlines?.delete(this);
    this.unstall();
    if (!this.bodyComplete) { this.bodyComplete = true; this.host.bodyEnded(this); }
    giveBackBody(this.body);
    this.host.finished(this);
  }

  // ---- H1Handler: the upstream's answer ----------------------------------------

  onResponseStart(status: number, _statusText: string, headers: string[], contentLength: number): void {
    // a stream (no known length) whose head comes after a reload is judged by the config now in force first
    if (this.closed || (contentLength < 0 && this.host.refusedByReload(this))) { this.controller?.abort(); return; }
    this.upstream!.responded(this.target!, status);
    // the upstream refused the proxy's own token: dropped; this 401 still goes to the client (no retry here, README "Service to service")
    if (status === 401) outboundRefused(this.snap, this.ctx, headers, this.req!.headers, false);
    this.upstreamMs = performance.now() - this.upstreamStart;
    this.status = status;
    // HEAD and 304 keep the representation's length; a 204 never has one (RFC 9110 §8.6: an h2 client resets the stream)
    // on a request the proxy authenticated, only challenges for a better token (README "Challenges from upstreams")
    const h = upstreamChallenges(this.ctx, status, headers, this.snap.realm);
    if (h !== headers) this.host.upstreamError(this.upstream!.name, CHALLENGE_FILTERED);
    const out = responseHeaders(h, this.ctx.responseHeaders ?? null, (this.head || status === 304) && status !== 204, this.snap.policyHeader);
    // a cookie or token-header credential is invisible to a shared cache in front (README "Extraction")
    if (answerMadePrivate(this.ctx, h)) addPrivate(out);
    const res = this.res;
    try {
      if (contentLength === 0) {
        // headers set, then end(): one HEADERS frame with END_STREAM (a gRPC trailers-only answer stays one)
        res.statusCode = status;
        for (const k of Object.keys(out)) res.setHeader(k, out[k]!);
        res.end();
        this.headersWritten = true;
        this.finish(status);
        return;
      }
      if ('stream' in res) res.writeHead(status, out, this.trailersMayFollow(headers, contentLength));
      else res.writeHead(status, out);
    } catch (err) {
      this.headRefused(err);
      return;
    }
    this.headersWritten = true;
  }

  /**
   * node refused the upstream's head (HTTP/2: a single-value field twice…; nothing was sent): the
   * upstream request is dropped and the client gets 502, as for any response the proxy cannot relay.
   */
  private headRefused(err: unknown): void {
    const up = this.upstream!;
    this.controller?.abort();
    this.host.upstreamError(up.name, 'protocol');
    this.errorKind = 'upstream_protocol';
    this.status = 0;
    this.sendError(proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${up.name}" sent a response head the client's protocol cannot carry (${(err as { code?: string }).code ?? 'refused'})`));
  }

  /**
   * Whether trailers can follow this response's body: the proxy's own gRPC statuses (deadline,
   * revocation) end gRPC calls with trailers, and an HTTP/2 upstream may send its own — when its
   * response has no Content-Length or announces them (Trailer). An HTTP/1.1 upstream's trailers
   * are never forwarded. Without, the last DATA frame ends the stream (no empty trailers frame).
   */
  private trailersMayFollow(headers: readonly string[], contentLength: number): boolean {
    if (this.grpc || !(this.controller instanceof H2Call)) return this.grpc;
    if (contentLength < 0) return true;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      if (k === 'trailer' || (k === 'content-type' && headers[i + 1]!.startsWith('application/grpc'))) return true;
    }
    return false;
  }

  onResponseTrailers(trailers: string[]): void {
    this.trailers = trailers;
  }

  onResponseData(chunk: Buffer): void {
    if (this.closed) return;
    this.bytesOut += chunk.length;
    // node:http2 queues what it cannot send yet by reference, and an HTTP/1.1 upstream's chunk
    // lives in the process's one reused read buffer (node/upstream/h1-connection.ts): copy it.
    // An HTTP/2 upstream's chunks are buffers of their own: passed on as they are.
    const out = this.controller instanceof H2Call ? chunk : Buffer.from(chunk);
    if (!this.res.write(out)) this.pauseUntilDrain();
  }

  /** The client's side is full: pause the upstream until 'drain' (listener added only when needed: most responses never fill it). */
  private pauseUntilDrain(): void {
    this.controller?.pause();
    if (this.stalledSince === 0) { this.stalledSince = performance.now(); this.host.stalled(this, true); }
    if (this.drainArmed) return;
    this.drainArmed = true;
    this.res.on('drain', () => { this.unstall(); if (!this.done) this.controller?.resume(); });
  }

  private unstall(): void {
    if (this.stalledSince === 0) return;
    this.stalledSince = 0;
    this.host.stalled(this, false);
  }

  /** The client has not taken any of the response for server.http2.stalled_response_ms: cancel the upstream, reset the stream. */
  stallTimedOut(): void {
    if (this.done) return;
    this.controller?.abort();
    this.cut('slow_reader');
  }

  onResponseEnd(): void {
    if (this.closed) return;
    // trailers pass through to HTTP/2 clients (gRPC's grpc-status lives there); hop-by-hop names and the policy field never do
    if (this.trailers !== null && 'stream' in this.res) this.res.addTrailers(responseTrailers(this.trailers, this.snap.policyHeader) as Record<string, string>);
    this.res.end();
    this.finish(this.status);
  }

  onError(err: H1Error): void {
    if (this.done) return;
    const up = this.upstream!;
    if (this.headersWritten) {
      const f = h2MidBodyFailure(err, up.name, up.config.timeouts.idle_body_ms);
      this.host.upstreamError(up.name, f.metric!);
      // an upstream RST_STREAM reaches the client with its code (gRPC clients map it to a status)
      const rst = (err as { rstCode?: number }).rstCode;
      this.cut(f.reason, rst !== undefined && rst !== 0 ? rst : 0x8);
      return;
    }
    if (this.errorKind !== null) return; // aborted by us (413/408), answered already
    const f = failedBeforeHead(err, up, this.target!, h2BeforeHeadFailure, this.host, this.attempt, this.body !== null, this.ctx.method);
    if (f === null) { this.attempt++; this.controller = null; this.dispatch(this.target); return; } // another target
    this.errorKind = f.reason;
    this.sendError(f.error);
  }
}
