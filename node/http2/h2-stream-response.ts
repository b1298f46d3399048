// The response side of one HTTP/2 stream on the core API (stream.respond / write / end, trailers
// through waitForTrailers), with the few compat-style methods the relay, the error writer and the
// ext_authz service call. Replaces node:http2's Http2ServerRequest/Response pair, which allocates
// two wrapper objects and their listeners per stream (a large share of the h2 listener's CPU and GC).
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';

/** The response a stream belongs to: its 'wantTrailers' listener is one shared function. */
const RESPONSE = Symbol('portcullis.h2response');
type ResponseStream = ServerHttp2Stream & { [RESPONSE]: H2StreamResponse };

function onWantTrailers(this: ResponseStream): void {
  if (!this.destroyed) this.sendTrailers(this[RESPONSE].trailersToSend());
}

// respond() copies its options and sets endStream on the copy: given, nothing is added to it
const WAIT_FOR_TRAILERS = { endStream: false, waitForTrailers: true } as const;
const END_STREAM = { endStream: true } as const;
const NO_END = { endStream: false } as const;
const NO_TRAILERS: OutgoingHttpHeaders = Object.freeze({});

export class H2StreamResponse {
  statusCode = 200;
  headersSent = false;
  private headers: OutgoingHttpHeaders | null = null;
  private trailers: OutgoingHttpHeaders | null = null;

  constructor(readonly stream: ServerHttp2Stream) {}

  setHeader(name: string, value: string | string[]): void {
    (this.headers ??= {})[name] = value;
  }

  /** Trailers sent after the last DATA frame (gRPC's grpc-status lives there). */
  addTrailers(trailers: Record<string, string | string[]>): void {
    this.trailers = this.trailers === null ? { ...trailers } : Object.assign(this.trailers, trailers);
  }

  /**
   * `headers` becomes the response's own (it is completed in place, not copied). `trailers`: false
   * when none can follow (no addTrailers() after this): the last DATA frame then carries END_STREAM
   * at once, instead of an empty trailers frame one event-loop turn after it. Throws, having sent
   * nothing, on a head node:http2 refuses (see respond).
   */
  writeHead(status: number, headers?: Record<string, string | string[]>, trailers = true): void {
    if (this.headersSent) return;
    this.statusCode = status;
    if (headers !== undefined) this.headers = this.headers === null ? headers : Object.assign(this.headers, headers);
    this.respond(false, trailers);
  }

  /** False when the stream's buffer is full: wait for 'drain'. */
  write(chunk: Buffer): boolean {
    if (!this.headersSent) this.respond(false);
    if (this.stream.destroyed) return true;
    return this.stream.write(chunk);
  }

  /** End the response; without a body or trailers and before the head, one HEADERS frame with END_STREAM. */
  end(chunk?: Buffer | string): void {
    if (!this.headersSent) {
      if (chunk === undefined && this.trailers === null) { this.respond(true); return; }
      this.respond(false);
    }
    if (this.stream.destroyed || this.stream.writableEnded) return;
    if (chunk === undefined) this.stream.end(); else this.stream.end(chunk);
  }

  on(event: 'close' | 'drain', listener: () => void): this {
    this.stream.on(event, listener);
    return this;
  }

  destroy(): void {
    this.stream.destroy();
  }

  /**
   * Send the head. Throws when node:http2 refuses it (a connection-specific field, a single-value
   * field twice — ERR_HTTP2_*): then nothing was sent and the head is dropped, so the caller can
   * still answer with its own.
   */
  private respond(endStream: boolean, trailers = true): void {
    const s = this.stream;
    if (s.destroyed || s.closed) { this.headersSent = true; return; } // the client reset it: nothing to send
    // the head object is ours (writeHead takes ownership): respond() copies it anyway, so no copy here
    const h: OutgoingHttpHeaders = this.headers ?? {};
    h[':status'] = this.statusCode;
    try {
      s.respond(h, endStream ? END_STREAM : trailers ? WAIT_FOR_TRAILERS : NO_END);
    } catch (err) {
      this.headers = null;
      throw err;
    }
    this.headersSent = true;
    if (endStream || !trailers) return;
    // as node's compat response: trailers (possibly none) follow the last DATA frame
    (s as ResponseStream)[RESPONSE] = this;
    s.on('wantTrailers', onWantTrailers); // emitted once per stream
  }

  /** @internal the trailers (possibly none) for 'wantTrailers' */
  trailersToSend(): OutgoingHttpHeaders {
    return this.trailers ?? NO_TRAILERS;
  }
}
