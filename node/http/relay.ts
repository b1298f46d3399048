// One request's life from the uWS handler to the last response byte: the request body (request-body.ts),
// the pipeline's sink, the upstream handler (the response streams back with backpressure: response-stream.ts),
// retries (another target; a fresh outbound token after the upstream's 401 invalid_token), errors, how it
// ended (outcome, reason) and the finish guard; endings from outside: relay-end.ts. uWS rules: write only inside cork() and only while not aborted.
import type { HttpResponse } from 'uWebSockets.js';
import type { H1Control, H1Error, H1Handler, H1Request } from '../upstream/h1-client.js';
import { proxyError, type ErrorCode, type ProxyError } from '../errors.js';
import { asInsideParseLoop, closeAfterParse, handlerScope, inlineAnswer } from '../handler-scope.js';
import { beforeHeadFailure, failedBeforeHead, lateRequestBody, midBodyFailure } from './upstream-failure.js';
import type { RequestContext } from '../pipeline/context.js';
import { freshAuthorization, outboundRefused, replaceAuthorization, type OutboundResult, type PipelineSink, type UpstreamRequest } from '../pipeline/index.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';
import { RequestBody, type BodyOwner } from './request-body.js';
import { giveBackBody, readWholeFirst } from './body-buffer.js';
import { endPending, endStream, shutdownRelay, stopExchange, type EndingRelay } from './relay-end.js';
import { writeError } from './respond.js';
import { clientAddress } from './client-address.js';
import type { Outcome, RelayHostOf } from './relay-host.js';
import { startResponse, readEnded, relayChunk, responseEnded, type RelayResponse } from './response-stream.js';
import type { Snapshot } from '../pipeline/snapshot.js';

/**
 * uWebSockets.js drops an HTTP connection that makes no write progress for its fixed idle
 * timeout (10 s on a coarse timer: measured 8.5–12 s). A connection that ends after the proxy
 * waited this long for the client to read was cut for being a slow reader, not closed by it.
 */
const UWS_STALL_CUT_MS = 8_000;

const NO_HEADERS: string[] = [];

export type { Outcome } from './relay-host.js';
/** The listener's side of a relay (relay-host.ts). */
export type RelayHost = RelayHostOf<Relay>;

/**
 * One request's relay. It is also the upstream request it sends (H1Request: method, path, headers,
 * body, lengths read from its own fields), so a dispatch allocates no request object.
 */
export class Relay implements H1Handler, H1Request, PipelineSink, BodyOwner, RelayResponse, EndingRelay {
  readonly res: HttpResponse;
  readonly host: RelayHost;
  readonly snap: Snapshot;
  readonly ctx: RequestContext;
  readonly start: number;
  readonly head: boolean;
  /** Whether upstream_ms is recorded (access log or tracing on): two clock reads per request, skipped when nothing reads them. */
  readonly timed: boolean;
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
  /** performance.now() when the upstream request was dispatched; 0 unless `timed`. */
  upstreamStart = 0;
  /** Dispatch → response head, ms; -1 until the head arrived, and always unless `timed`. */
  upstreamMs = -1;
  /** Why the request did not end as a complete relay of the upstream's answer (access log `reason`); null when it did. */
  errorKind: string | null = null;
  /** Status line written to the client (upstream head or own error); 0 while nothing was written. */
  sent = 0;
  /** Index in the listener's in-flight SlotRegistry (node/slot-registry.ts); -1 while not registered. */
  slot = -1;
  /** Index in the listener's registry of requests whose body is still arriving; -1 while not registered. */
  bodySlot = -1;

  // request body
  body: RequestBody | null = null;
  bodyComplete = true;
  private readonly maxBody: number;

  // upstream; the response fields below `attempt` are shared with response-stream.ts
  upstream: UpstreamPool | null = null;
  target: Target | null = null;
  /** H1Request: path with query as sent upstream ('' until forward()). */
  path = '';
  /** H1Request: the upstream request's header list (Host filled per picked target); [] until forward(). */
  headers: string[] = NO_HEADERS;
  private hostIdx = -1;
  private attempt = 0;
  /** Sent once more with a fresh outbound token after the upstream's 401 invalid_token: never twice. */
  private tokenRetried = false;
  controller: H1Control | null = null;
  headersWritten = false;
  respStatus = 0;
  respStatusMessage = '';
  respHeaders: string[] | null = null;
  /** The head may hold chars ≥ U+0080 (H1Handler.onResponseStart): response-head.ts writes those as bytes. */
  respNonAscii = false;
  totalSize = -1; // content-length of the response, -1 = chunked
  pending: Buffer | null = null;
  pendingOffset = 0;
  writableRegistered = false;
  /** performance.now() when the client stopped draining (waiting for onWritable); 0 while it keeps up. */
  blockedSince = 0;
  /** A head to write at the end of the current upstream read unless body bytes took it along. */
  headDue = false;
  upstreamEnded = false;
  pendingChunk: Buffer | null = null;

  constructor(res: HttpResponse, host: RelayHost, snap: Snapshot, ctx: RequestContext, start: number, maxBody: number) {
    this.res = res;
    this.host = host;
    this.snap = snap;
    this.ctx = ctx;
    this.start = start;
    this.head = ctx.method === 'HEAD';
    this.timed = host.accessLog || snap.tracer !== null;
    this.maxBody = maxBody;
  }

  // ---- client side -------------------------------------------------------
  /** ctx.peer (PeerAddress): the client's address read now (one getpeername), '' once it left. */
  peerAddress(): string { return this.aborted ? '' : clientAddress(this.res); }

  onAborted(): void {
    this.aborted = true;
    stopExchange(this);
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
    // read whole (readWholeFirst): its dispatch waited for it; whole now, it waits for a connection as any complete small body does
    if (this.body!.budget > 0) {
      giveBackBody(this.body);
      if (!this.done && !this.aborted) this.dispatch(null);
    }
  }


  /** BodyOwner */
  bodyTooLarge(maxBody: number): void {
    if (this.errorKind === 'body_too_large') return; // the rest of the read's chunks, while the 413 waits
    // called from uWS's body callback, inside its parse loop: the closing 413 waits for it (node/handler-scope.ts)
    asInsideParseLoop(() => this.failRequestBody(proxyError('PORTCULLIS_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBody} bytes`), 'body_too_large'));
  }

  /** The listener's sweep: re-arm uWS's body timer of a slow upload (RequestBody.keepAlive) until a response starts. True when re-armed. */
  keepBodyAlive(now: number): boolean {
    if (this.body === null || this.done || this.aborted || this.respStatus !== 0) return false;
    return this.body.keepAlive(now);
  }

  /**
   * The listener's sweep: the body's deadline (`request_ms`) passed. 408 when the client did not send
   * it in time; 504 when the proxy was holding the client back because the upstream did not take what
   * it had (backpressure: the client is blameless). True for a 408.
   */
  bodyDeadlinePassed(): boolean {
    const f = lateRequestBody(this.upstream?.name ?? null, this.body?.heldBack === true, this.snap.config.server.timeouts.request_ms);
    if (f.metric !== null) this.host.upstreamError(this.upstream!.name, f.metric);
    this.failRequestBody(f.error, f.reason);
    return f.metric === null;
  }

  /** Body too large or too slow: answer (if nothing was sent yet) and stop the upstream. */
  failRequestBody(err: ProxyError, kind: string): void {
    this.errorKind = kind;
    stopExchange(this);
    if (this.headersWritten) {
      this.cut(kind);
      return;
    }
    this.sendError(err, true);
  }

  /** Shutdown after the drain period: upstream cancelled, client connection closed at once (relay-end.ts). */
  shutdown(): void { shutdownRelay(this); }

  // ---- responses -------------------------------------------------------------

  /** Answer with an error (only if nothing was written yet). Safe to call twice. */
  sendError(err: ProxyError, closeConnection = !this.bodyComplete || this.host.draining): void {
    if (this.done || this.aborted) return;
    // a closing answer decided inside uWS's handler waits for its parse loop (node/handler-scope.ts)
    // (a keep-alive one too, past the turn's budget of inline answers: pipelined floods, same file)
    if (handlerScope.inside && (closeConnection || !inlineAnswer())) { closeAfterParse(() => this.sendError(err, true)); return; }
    // a HEAD answer cannot announce a close on this build (respond.ts): the rest of the body is read and dropped;
    // a kept-alive answer: the client, paused for backpressure on its body's last read, must be read again
    if (this.head || !closeConnection) this.body?.release();
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
  /** @internal (response-stream.ts) */
  cut(reason: string): void {
    if (this.done) return;
    this.outcome = 'truncated';
    this.errorKind ??= reason;
    this.finish(0);
    if (!this.aborted) this.res.close(); // → onAborted, which finds the relay done
  }

  /** A streamed response's token was revoked or expired, or a reload refuses it: cut (relay-end.ts). False when none is streaming. */
  endStream(reason: string, err: ProxyError): boolean { return endStream(this, reason, err); }

  /** Its token was revoked before the response head: upstream cancelled, `err` answered (relay-end.ts). False once a response started. */
  endPending(reason: string, err: ProxyError): boolean { return endPending(this, reason, err); }

  /** The end, once: `status` is reported (0: none reached the client) unless a status line was written or the client left first. */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.status = this.sent !== 0 ? this.sent : this.aborted ? 499 : status;
    if (this.aborted && this.outcome === 'complete') this.outcome = 'aborted';
    if (!this.bodyComplete) this.host.bodyEnded(this);
    giveBackBody(this.body);
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
    this.headers = req.headers;
    this.hostIdx = req.hostIdx;
    // a body still arriving with a length within server.limits.buffer_request_body_bytes is read whole first
    // (bodyEnded dispatches): a slow sender holds no upstream connection (README "Slow uploads")
    if (!this.bodyComplete && readWholeFirst(this.body!, this.snap.config.server.limits, this.host, this.ctx, this.snap.config.server.trust_forwarded ? this.snap.config.server.trusted_hops : 0)) return;
    this.dispatch(null);
  }


  private dispatch(avoid: Target | null): void {
    const up = this.upstream!;
    const t = up.pickNow(avoid);
    this.target = t;
    if (this.hostIdx >= 0) this.headers[this.hostIdx] = t.hostPort;
    if (this.timed) this.upstreamStart = performance.now();
    this.controller = t.pool.request(this, this);
  }

  /** H1Request */
  get method(): string { return this.ctx.method; }
  /** H1Request: the request body's length (-1 chunked), 0 without a body. */
  get contentLength(): number { return this.body === null ? 0 : this.body.contentLength; }
  /** H1Request: the Authorization value extract proved clean (forwarded as is, the upstream client need not scan it again). */
  get checkedValue(): string | null { return this.ctx.checkedAuthorization ?? null; }
  /** H1Request: the route's timeout, else the upstream's response timeout (ms). */
  get headersTimeoutMs(): number { return this.ctx.route.config.timeout_ms ?? this.upstream!.config.timeouts.response_ms; }

  // H1Handler: the response streams back through response-stream.ts (module-level functions
  // on this relay's fields, so nothing is allocated per chunk).
  onResponseStart(status: number, statusText: string, headers: string[], contentLength: number, nonAscii = true): void {
    this.respNonAscii = nonAscii;
    if (status === 401 && this.retryRefusedToken(headers)) return;
    // a stream (no known length: SSE, long downloads) whose head comes after a reload is judged by the config
    // now in force before it starts, as open streams are at the reload; a known-length answer finishes on its snapshot
    if (contentLength < 0 && this.snap !== this.host.snapshot && !this.done && !this.aborted && this.host.refusedByReload(this)) return;
    startResponse(this, status, statusText, headers, contentLength);
  }

  /**
   * A 401 invalid_token to the token the proxy attached: the outbound step drops it; a request
   * without a body (nothing streamed that cannot be sent again) goes once more — never twice — with
   * a fresh token, and this answer is discarded. True when retrying (node/pipeline/outbound-refusal.ts).
   */
  private retryRefusedToken(headers: string[]): boolean {
    if (this.done || this.aborted || !outboundRefused(this.snap, this.ctx, headers, this.headers, this.body === null && !this.tokenRetried)) return false;
    this.tokenRetried = true;
    this.controller?.abort(); // the 401's body is not wanted; no callback follows
    this.controller = null;
    void freshAuthorization(this.snap, this.ctx).then((a) => this.redispatch(a));
    return true;
  }

  private redispatch(a: OutboundResult): void {
    if (this.done || this.aborted) return;
    if (typeof a !== 'string') { this.ctx.denyReason = a.reason; this.sendError(a.error); return; }
    replaceAuthorization(this.headers, a);
    this.dispatch(null);
  }

  onReadEnd(): void {
    readEnded(this);
  }

  onResponseData(chunk: Buffer): void {
    relayChunk(this, chunk);
  }

  onResponseEnd(): void {
    responseEnded(this);
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
    const f = failedBeforeHead(err, up, this.target!, beforeHeadFailure, this.host, this.attempt, this.body !== null, this.ctx.method);
    if (f === null) { this.attempt++; this.controller = null; this.dispatch(this.target); return; } // another target
    this.errorKind = f.reason;
    this.sendError(f.error);
  }
}
