// The response half of a relay (relay.ts): the upstream's head and body streamed to the uWS
// client with backpressure — the head written with the first body bytes (or alone at the end of
// an upstream read), the client's slowness pausing the upstream, the end written once the body
// is. Module-level functions on the relay's fields (the RelayResponse interface below, which relay.ts's
// class implements): no object or closure per request or chunk.
// uWS rules: write only inside cork() and only while not aborted.
import type { HttpResponse } from 'uWebSockets.js';
import type { H1Control } from '../upstream/h1-client.js';
import type { Target, UpstreamPool } from '../upstream/upstream-pool.js';
import type { RequestContext } from '../pipeline/context.js';
import { answerMadePrivate, CHALLENGE_FILTERED, PRIVATE_NAME, PRIVATE_VALUE, upstreamChallenges } from '../pipeline/index.js';
import type { Snapshot } from '../pipeline/snapshot.js';
import { writeUpstreamHead } from './response-head.js';

/**
 * What this module reads and writes of one request's relay (relay.ts's Relay class implements it; the
 * fields are documented there): the client response, the upstream's head as it arrived, the
 * backpressure state, and the relay's own end (finish, cut).
 */
export interface RelayResponse {
  readonly res: HttpResponse;
  readonly host: { headHeld(relay: RelayResponse): void; upstreamError(upstream: string, kind: string): void; readonly draining: boolean };
  readonly snap: Snapshot;
  readonly ctx: RequestContext;
  readonly head: boolean;
  readonly timed: boolean;
  readonly bodyComplete: boolean;
  /** The request body, while one is expected (relay.ts); released before a write that may end the response early. */
  readonly body: { release(): void } | null;
  readonly aborted: boolean;
  readonly done: boolean;
  readonly controller: H1Control | null;
  readonly upstream: UpstreamPool | null;
  readonly target: Target | null;
  readonly upstreamStart: number;
  status: number;
  sent: number;
  bytesOut: number;
  upstreamMs: number;
  headersWritten: boolean;
  respStatus: number;
  respStatusMessage: string;
  respHeaders: string[] | null;
  respNonAscii: boolean;
  totalSize: number;
  pending: Buffer | null;
  pendingOffset: number;
  pendingChunk: Buffer | null;
  writableRegistered: boolean;
  blockedSince: number;
  headDue: boolean;
  upstreamEnded: boolean;
  finish(status: number): void;
  cut(reason: string): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * The relay whose write is being corked: res.cork() runs its callback synchronously, so the
 * callbacks below are module-level functions, not a closure (or a bound method) per request.
 */
let corked: RelayResponse | null = null;
function writeLoneHeadCorked(): void { const r = corked!; corked = null; writeLoneHead(r); }
function writeChunkCorked(): void { const r = corked!; corked = null; writeChunk(r); }
function endResponseCorked(): void { const r = corked!; corked = null; endResponse(r); }

export function startResponse(r: RelayResponse, status: number, statusText: string, headers: string[], contentLength: number): void {
  if (r.aborted || r.done) { r.controller?.abort(); return; }
  r.upstream!.responded(r.target!, status);
  if (r.timed) r.upstreamMs = performance.now() - r.upstreamStart;
  r.respStatus = status;
  r.status = status;
  r.respStatusMessage = statusText;
  r.respHeaders = headers;
  const noBody = r.head || status === 204 || status === 304;
  r.totalSize = noBody ? 0 : contentLength;
  if (r.totalSize === 0) {
    // Nothing to stream: answer now in one corked write.
    corked = r;
    r.res.cork(endResponseCorked);
    return;
  }
  // The client must see the head even when the body is slow to come (SSE, long polls), but
  // not in a write of its own when the body is in the same upstream read (the common case):
  // the head goes out with the first body bytes, or at the end of this read on its own.
  r.headDue = true;
}

/** The upstream read is delivered: a head still unwritten goes out alone (known length) or is counted as held. */
export function readEnded(r: RelayResponse): void {
  if (!r.headDue || r.done || r.aborted) return;
  r.headDue = false;
  if (r.totalSize > 0) {
    corked = r;
    r.res.cork(writeLoneHeadCorked);
  } else {
    // Unknown length (chunked or close-delimited): this uWS build cannot end a chunked head
    // without a body chunk (res.write('') writes nothing), so it waits for the first byte.
    r.host.headHeld(r);
  }
}

/** Known length: tryEnd with no data writes the head with its Content-Length and sends it. */
function writeLoneHead(r: RelayResponse): void {
  writeHead(r);
  const lastOffset = r.res.getWriteOffset();
  const [ok] = r.res.tryEnd(EMPTY, r.totalSize);
  if (!ok) {
    r.pending = EMPTY;
    r.pendingOffset = lastOffset;
    waitWritable(r);
  }
}

function writeHead(r: RelayResponse): void {
  r.headersWritten = true;
  r.headDue = false;
  r.sent = r.respStatus;
  // on a request the proxy authenticated, only challenges for a better token (README "Challenges from upstreams")
  const h = upstreamChallenges(r.ctx, r.respStatus, r.respHeaders!, r.snap.realm);
  if (h !== r.respHeaders && r.upstream !== null) r.host.upstreamError(r.upstream.name, CHALLENGE_FILTERED);
  writeUpstreamHead(r.res, r.respStatus, r.respStatusMessage, h, r.head, r.ctx.responseHeaders, r.snap.policyHeader, r.respNonAscii);
  // a cookie or token-header credential is invisible to a shared cache in front (README "Extraction")
  if (answerMadePrivate(r.ctx, h)) r.res.writeHeader(PRIVATE_NAME, PRIVATE_VALUE);
  // a stop's drain: the client closes this connection after the response instead of sending the
  // next request into a socket about to close (nginx and HAProxy do the same at a graceful stop)
  if (r.host.draining) r.res.writeHeader('connection', 'close');
}

export function relayChunk(r: RelayResponse, chunk: Buffer): void {
  if (r.aborted || r.done || r.totalSize === 0) return;
  r.bytesOut += chunk.length;
  r.pendingChunk = chunk;
  corked = r;
  r.res.cork(writeChunkCorked);
}

/** Inside res.cork(): the head if still unwritten, then `pendingChunk`. */
function writeChunk(r: RelayResponse): void {
  const chunk = r.pendingChunk!;
  r.pendingChunk = null;
  const first = !r.headersWritten;
  if (first) writeHead(r);
  if (r.totalSize > 0) {
    // no body byte written before the first chunk: offset 0 without asking uWS (one crossing less)
    const lastOffset = first ? 0 : r.res.getWriteOffset();
    if (r.bytesOut >= r.totalSize) r.body?.release(); // may end the response
    const [ok, done] = r.res.tryEnd(chunk, r.totalSize);
    if (done) { r.finish(r.respStatus); return; }
    if (!ok) {
      // kept until onWritable: a copy, the chunk is the upstream's reused read buffer
      r.pending = Buffer.from(chunk);
      r.pendingOffset = lastOffset;
      waitWritable(r);
    }
  } else if (!r.res.write(chunk)) { // uWS keeps what it could not send itself
    waitWritable(r);
  }
}

function waitWritable(r: RelayResponse): void {
  r.controller?.pause();
  if (r.blockedSince === 0) r.blockedSince = performance.now();
  if (!r.writableRegistered) {
    r.writableRegistered = true;
    r.res.onWritable((offset) => onWritable(r, offset)); // once per relay, only under backpressure
  }
}

function onWritable(r: RelayResponse, offset: number): boolean {
  if (r.aborted || r.done) return true;
  if (r.pending !== null) {
    if (r.bytesOut >= r.totalSize) r.body?.release(); // may end the response
    const [ok, done] = r.res.tryEnd(r.pending.subarray(offset - r.pendingOffset), r.totalSize);
    if (done) { r.pending = null; r.finish(r.respStatus); return true; }
    if (!ok) return false;
    r.pending = null;
  }
  r.blockedSince = 0;
  if (r.upstreamEnded) { endResponse(r); return true; }
  r.controller?.resume();
  return true;
}

export function responseEnded(r: RelayResponse): void {
  r.upstreamEnded = true;
  if (r.aborted || r.done) return;
  if (r.pending !== null) return; // finished from onWritable
  corked = r;
  r.res.cork(endResponseCorked);
}

/** Inside res.cork() (or onWritable): the end of a response whose body is all written. */
function endResponse(r: RelayResponse): void {
  if (r.done) return;
  const res = r.res;
  if (!r.headersWritten) writeHead(r);
  if (r.totalSize === 0) {
    // HEAD/204/304 carry no body: bare endWithoutBody() (Content-Length, if any, was
    // written as a header). This uWS build writes "Content-Length: 2^63" for
    // endWithoutBody(undefined, …) and treats endWithoutBody(n > 0) as unfinished.
    // Other statuses with an empty body get "Content-Length: 0" from end().
    if (r.head || r.respStatus === 204 || r.respStatus === 304) {
      r.body?.release(); // keeps the connection: the rest of the body is read and dropped
      res.endWithoutBody();
    } else {
      if (r.bodyComplete) r.body?.release(); // kept alive: the next request must be read
      res.end(undefined, !r.bodyComplete);
    }
  } else if (r.totalSize > 0) {
    // Fewer bytes than Content-Length: the client must see a truncated response.
    r.cut('upstream_short_body');
    return;
  } else if (r.bytesOut === 0 || r.bodyComplete) {
    if (r.bodyComplete) r.body?.release(); // kept alive: the next request must be read
    res.end(undefined, !r.bodyComplete); // nothing written yet: Connection: close goes in the head
  } else {
    // Chunks are out: this build would write `Connection: close` after the last chunk's data,
    // into the body (a broken chunk). The connection stays; the rest of the request body is read and dropped.
    r.body?.release();
    res.end();
  }
  r.finish(r.respStatus);
}
