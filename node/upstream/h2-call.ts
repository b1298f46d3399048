// One request/response on an H2Pool: the upstream HTTP/2 stream, its request headers and body,
// and the H1Control the caller gets back. Response headers, data, trailers and end go to the
// handler; an upstream RST_STREAM becomes an error carrying its code (`rstCode`), a caller's
// abort() resets the upstream stream with CANCEL. Callbacks never run synchronously from start().
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { h1Error, retryOnFreshSocket, type H1Control, type H1Error, type H1Handler, type H1Request } from './h1-client.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_DEFAULT_WEIGHT } = http2.constants;

// request() copies its options and adds the priority fields it finds missing (weight, parent,
// exclusive, silent): four property additions per stream, ~1.1 KB of heap (measured with a GC
// profiler, Node 20.20). Given with their default values, nothing is added and nothing changes.
const NO_BODY = { endStream: true, weight: NGHTTP2_DEFAULT_WEIGHT, parent: 0, exclusive: false, silent: false } as const;
const WITH_BODY = { endStream: false, weight: NGHTTP2_DEFAULT_WEIGHT, parent: 0, exclusive: false, silent: false } as const;

/** The call an upstream stream belongs to: its listeners are shared functions (no closures per stream). */
const CALL = Symbol('portcullis.h2call');
type CallStream = ClientHttp2Stream & { [CALL]: H2Call };

/**
 * The call a request body feeds (the body's listeners are shared functions as well). The body is
 * written by hand rather than with pipe(): pipe() adds seven closures and its state per stream.
 */
const FEEDS = Symbol('portcullis.h2call.body');
type CallBody = Readable & { [FEEDS]: H2Call };

/** An H1Error for an upstream HTTP/2 stream reset (`rstCode` = the RST_STREAM error code). */
export type H2Error = H1Error & { rstCode?: number };

/** What a call needs from its pool. */
export interface CallOwner {
  /** The call finished (any way): no longer running. */
  ended(call: H2Call): void;
  /** A stream refused before any processing (REFUSED_STREAM, GOAWAY past its id): retry once on a fresh session. */
  retry(call: H2Call): boolean;
}

/** HTTP/2 request headers from the flat list: Host → :authority, Cookie fields joined, gRPC gets `te: trailers`. */
export function h2RequestHeaders(req: H1Request, scheme: string, authority: string): OutgoingHttpHeaders {
  // no prototype: a field named `__proto__` (or `0`, `length` after it) is a field like any other
  const out: OutgoingHttpHeaders = Object.assign(Object.create(null) as OutgoingHttpHeaders, { ':method': req.method, ':path': req.path, ':scheme': scheme, ':authority': authority });
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!.toLowerCase();
    const v = h[i + 1]!;
    if (k === 'host') { if (v !== '') out[':authority'] = v; continue; }
    const cur = out[k];
    if (cur === undefined) out[k] = v;
    else if (k === 'cookie') out[k] = `${String(cur)}; ${v}`;
    else out[k] = Array.isArray(cur) ? [...cur, v] : [String(cur), v];
  }
  // gRPC servers require `te: trailers` (the forward stage drops te as hop-by-hop for HTTP/1.1)
  const ct = out['content-type'];
  if (typeof ct === 'string' && ct.startsWith('application/grpc')) out.te = 'trailers';
  return out;
}

/** Flat [name, value…] of an HTTP/2 header object, pseudo-headers left out. */
export function flatHeaders(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const k of Object.keys(h)) {
    if (k[0] === ':') continue;
    const v = h[k];
    if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else if (v !== undefined) out.push(k, String(v));
  }
  return out;
}

export class H2Call implements H1Control {
  aborted = false;
  done = false;
  retried = false;
  responseStarted = false;
  /** Index in its pool's registry of running calls (node/slot-registry.ts); -1 while not registered. */
  slot = -1;
  /** performance.now() of the last progress (sent, head, body bytes): the pool's timer reads it. */
  lastActivity = performance.now();
  /**
   * The request body is still being sent (the stream's writable side not finished): the wait for the
   * head starts when it has been, as on HTTP/1.1 — the client's upload pace is the listener's to bound.
   */
  uploading = false;
  /** performance.now() since the upstream stopped taking the body (its window shut, the end not flushed); 0: it takes it. */
  uploadStalledSince = 0;
  private stream: ClientHttp2Stream | null = null;
  private paused = false;
  private streamError: NodeJS.ErrnoException | null = null;

  constructor(
    private readonly owner: CallOwner,
    readonly req: H1Request,
    readonly handler: H1Handler,
    readonly headersTimeoutMs: number,
    private readonly scheme: string,
    private readonly authority: string,
  ) {}

  /** Open the stream on `session`. */
  start(session: ClientHttp2Session): void {
    if (this.done) return;
    const body = this.req.body;
    let s: CallStream;
    try {
      s = session.request(h2RequestHeaders(this.req, this.scheme, this.authority), body === null ? NO_BODY : WITH_BODY) as CallStream;
    } catch (err) {
      setImmediate(() => this.fail(h1Error('H1_REQUEST_HEAD', `request cannot be sent over HTTP/2: ${(err as Error).message}`, false, err)));
      return;
    }
    this.stream = s;
    this.lastActivity = performance.now();
    s[CALL] = this;
    s.on('response', onStreamResponse);
    s.on('data', onStreamData);
    s.on('trailers', onStreamTrailers);
    s.on('end', onStreamEnd);
    s.on('error', onStreamError);
    s.on('close', onStreamClose);
    if (this.paused) s.pause();
    if (body !== null) {
      // backpressure both ways: a full stream (its flow-control window closed) pauses the body until 'drain'
      (body as CallBody)[FEEDS] = this;
      body.on('error', onBodyError);
      body.on('data', onBodyData);
      body.on('end', onBodyEnd);
      s.on('drain', onStreamDrain);
      s.on('finish', onStreamFinish);
      this.uploading = true;
    }
  }

  /** @internal a request body chunk: written to the stream, the body paused when the stream is full */
  writeBody(chunk: Buffer, body: Readable): void {
    const s = this.stream;
    if (s === null || s.destroyed || s.writableEnded) return;
    if (!s.write(chunk)) {
      body.pause();
      if (this.uploadStalledSince === 0) this.uploadStalledSince = performance.now();
    }
  }

  /** @internal the request body ended: so does the stream's writable side */
  endBody(): void {
    const s = this.stream;
    if (s !== null && !s.destroyed && !s.writableEnded) s.end();
    // what is still buffered waits for the upstream's window: a stall until 'finish'
    if (this.uploading && this.uploadStalledSince === 0) this.uploadStalledSince = performance.now();
  }

  /** @internal the whole request body (and its END_STREAM) went out: the wait for the head starts now */
  bodySent(): void {
    this.uploading = false;
    this.uploadStalledSince = 0;
    this.lastActivity = performance.now();
  }

  /** @internal the upstream stream has room again */
  drained(): void {
    const body = this.req.body;
    if (this.uploading) this.uploadStalledSince = 0;
    if (body !== null && !this.done) body.resume();
  }

  /** @internal */
  bodyFailed(err: Error): void {
    if (this.done) return;
    this.reset(NGHTTP2_CANCEL);
    this.fail(h1Error('H1_REQUEST_BODY', 'request body stream failed', true, err));
  }

  /** @internal the stream's listeners (below) */
  onResponse(headers: IncomingHttpHeaders, endStream: boolean): void {
    if (this.done) return;
    this.lastActivity = performance.now();
    this.responseStarted = true;
    const status = Number(headers[':status']);
    const cl = headers['content-length'];
    const length = endStream || this.req.method === 'HEAD' || status === 204 || status === 304 ? 0 : typeof cl === 'string' && /^\d+$/.test(cl) ? Number(cl) : -1;
    this.handler.onResponseStart(status, '', flatHeaders(headers), length);
  }

  /** @internal */
  onData(chunk: Buffer): void {
    this.lastActivity = performance.now();
    if (!this.done) this.handler.onResponseData(chunk);
  }

  /** @internal */
  onTrailers(t: IncomingHttpHeaders): void {
    if (!this.done) this.handler.onResponseTrailers?.(flatHeaders(t));
  }

  /** @internal */
  onStreamError(err: NodeJS.ErrnoException): void {
    this.streamError = err;
  }

  /** @internal */
  finish(): void {
    if (this.done || !this.responseStarted) return;
    this.done = true;
    this.owner.ended(this);
    this.handler.onResponseEnd();
  }

  /** @internal */
  onClose(s: ClientHttp2Stream): void {
    if (this.done) return;
    const code = s.rstCode ?? NGHTTP2_NO_ERROR;
    if (!this.responseStarted && (code === NGHTTP2_REFUSED_STREAM) && this.req.body === null && !this.retried && this.owner.retry(this)) return;
    if (this.responseStarted && code === NGHTTP2_NO_ERROR) { this.finish(); return; }
    // a session that never connected cancels its pending streams with the socket error as cause
    const se = this.streamError;
    const sock = se === null ? null : typeof se.code === 'string' && !se.code.startsWith('ERR_HTTP2') ? se : (se.cause as NodeJS.ErrnoException | undefined) ?? null;
    if (!this.responseStarted && sock !== null && typeof sock.code === 'string') {
      // A stream with an id went out on a connected session: the upstream may have it (and acted
      // on it), so a reset now is no connect failure — no retry on another target, no ejection.
      const sent = s.id !== undefined;
      // the stale keep-alive race, as HTTP/1.1 (h1-client.ts): a session that carried earlier
      // streams (ids 1, 3… so id > 1) died under a replayable request — once on a fresh session
      if (sent && retryOnFreshSocket('H1_RESET', { gotBytes: false, retried: this.retried, requestSent: true, reusedSocket: s.id! > 1, hasBody: this.req.body !== null, method: this.req.method }) && this.owner.retry(this)) return;
      this.fail(h1Error(sent ? 'H1_RESET' : sock.code, `upstream connection failed: ${sock.message}`, sent, sock)); // not sent: connect-level, ejection and retry apply
      return;
    }
    // HTTP/2's own failure words (node/errors.ts UPSTREAM_ERRORS H2_*): requestSent stays true, so none reads as a connect failure
    const err = (code === NGHTTP2_REFUSED_STREAM ? h1Error('H2_REFUSED_STREAM', `upstream refused the stream${this.retried ? ' again after a retry on a fresh session' : ''} (REFUSED_STREAM)`, true)
      : code === NGHTTP2_NO_ERROR ? h1Error('H2_SESSION_CLOSED', 'upstream HTTP/2 session ended before the response completed', true)
        : h1Error('H2_STREAM_RESET', `upstream reset the stream (HTTP/2 error ${code})`, true)) as H2Error;
    err.rstCode = code;
    this.fail(err);
  }

  /** Deliver an error (once, never after abort). */
  fail(err: H1Error): void {
    if (this.done) return;
    this.done = true;
    this.owner.ended(this);
    if (this.stream !== null && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
    if (!this.aborted) this.handler.onError(err);
  }

  /** Back to the queue for a retry on another session (the pool calls start() again). */
  rearm(): void {
    this.retried = true;
    this.stream = null;
  }

  private reset(code: number): void {
    if (this.stream !== null && !this.stream.closed && !this.stream.destroyed) this.stream.close(code);
  }

  /** The caller paused the response (its client is slow): body idleness is not the upstream's fault then. */
  get isPaused(): boolean { return this.paused; }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.stream?.pause(); // no reads → no WINDOW_UPDATE: the upstream's flow-control window closes
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastActivity = performance.now();
    this.stream?.resume();
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.done) return;
    this.done = true;
    this.owner.ended(this);
    this.reset(NGHTTP2_CANCEL); // the client went away or the proxy cut it: RST_STREAM upstream
  }
}

// The listeners of every upstream stream, `this` being the stream (see CALL).
function onStreamResponse(this: CallStream, headers: IncomingHttpHeaders, flags: number): void {
  // flags: END_STREAM on the HEADERS frame = no body (a gRPC trailers-only answer); endAfterHeaders is set later
  this[CALL].onResponse(headers, (flags & 0x1) !== 0 || this.endAfterHeaders);
}
function onStreamData(this: CallStream, chunk: Buffer): void { this[CALL].onData(chunk); }
function onStreamTrailers(this: CallStream, t: IncomingHttpHeaders): void { this[CALL].onTrailers(t); }
// node ends the readable side on RST_STREAM too: only a clean end is the response's end ('close' reports a reset)
function onStreamEnd(this: CallStream): void { if ((this.rstCode ?? NGHTTP2_NO_ERROR) === NGHTTP2_NO_ERROR) this[CALL].finish(); }
// reported from 'close': a session that failed to connect hands its socket error (ECONNREFUSED…) to its streams
function onStreamError(this: CallStream, err: NodeJS.ErrnoException): void { this[CALL].onStreamError(err); }
function onStreamClose(this: CallStream): void { this[CALL].onClose(this); }
function onStreamDrain(this: CallStream): void { this[CALL].drained(); }
function onStreamFinish(this: CallStream): void { this[CALL].bodySent(); }
function onBodyData(this: CallBody, chunk: Buffer): void { this[FEEDS].writeBody(chunk, this); }
function onBodyEnd(this: CallBody): void { this[FEEDS].endBody(); }
function onBodyError(this: CallBody, err: Error): void { this[FEEDS].bodyFailed(err); }
