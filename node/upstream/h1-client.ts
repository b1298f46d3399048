// The upstream HTTP/1.1 client's public contract (what UpstreamPool and the Relay rely on) and
// its retry decisions, in one place. The parts: h1-connection.ts (one socket, its parser and the
// transaction on it), h1-pool.ts (sockets per origin, queue, timers); undici's dispatcher/handler
// split is the model: callers hand a handler in and get a controller back.
import type { Readable } from 'node:stream';
import type { UpstreamErrorCode } from '../errors.js';
import { bodyUnusedBy } from './h1-request-head.js';

/** Callbacks of one upstream transaction; called at most once each except onResponseData. Never called synchronously from request(). */
export interface H1Handler {
  /**
   * Final (non-1xx) response head. headers: flat [lowercased-name, value, ...] as received
   * (duplicates kept; values one char per byte, latin1). contentLength: -1 unknown (chunked or
   * close-delimited), 0 for HEAD/204/304. nonAscii: false when the reason phrase and every value
   * are ASCII; true or absent (not known) when some may hold chars U+0080–U+00FF.
   */
  onResponseStart(status: number, statusText: string, headers: string[], contentLength: number, nonAscii?: boolean): void;
  /**
   * Body bytes, de-chunked. Valid only during the call: plain-TCP connections read into one
   * reused buffer, so a handler that keeps bytes past its return copies them. May call
   * ctl.pause() synchronously.
   */
  onResponseData(chunk: Buffer): void;
  /**
   * Optional: one upstream read has been delivered (its onResponseStart/onResponseData calls are
   * done) and the response continues. Lets a handler send a head on its own only when no body
   * byte came with it, instead of scheduling a tick per response. Not called once onResponseEnd ran.
   */
  onReadEnd?(): void;
  /** Optional: response trailers (HTTP/2 upstreams; flat [name, value…]), before onResponseEnd. */
  onResponseTrailers?(trailers: string[]): void;
  onResponseEnd(): void;
  /**
   * err.code: one of node/errors.ts UPSTREAM_ERRORS (H1_*), or the socket's code while connecting
   * (ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ETIMEDOUT for the connect timeout, TLS codes…).
   * Always delivered on a later tick than the call that caused it; never after abort().
   * requestSent: false when no request byte was written.
   */
  onError(err: H1Error): void;
}

/**
 * `bodyUnsent`: the connection failed while the request body was still on its way (being read from the client, or
 * written but not yet taken by the upstream's socket) — an upstream refusing the upload early (a 413 and a close) lost
 * its answer to the reset, so the failure may be the request's, not the target's.
 */
export type H1Error = Error & { code: UpstreamErrorCode | string; requestSent: boolean; bodyUnsent?: boolean };

export interface H1Control {
  pause(): void;
  resume(): void;
  /** Destroy the socket (never reused); no callback follows, not even an error already decided. */
  abort(): void;
  readonly aborted: boolean;
}

/**
 * What UpstreamPool needs from a per-origin client: H1Pool, or (for `bench upstream-client`
 * only) the undici adapter in undici-client.ts.
 */
export interface UpstreamClient {
  /** Start one transaction; callbacks are never called synchronously from here. */
  request(req: H1Request, handler: H1Handler): H1Control;
  stats(): { connected: number; free: number; pending: number; running: number };
  /** Stop accepting; resolve when running transactions finished. */
  close(): Promise<void>;
  /** Close every socket now; running transactions get H1_CLOSED. */
  destroy(): void;
  /**
   * A reload replaced this client: requests that started on the old config still go through it
   * (never H1_CLOSED), but nothing is kept open for later — no idle socket or session, no timer
   * once the last one finished — so it is garbage once no request refers to it. Absent: close().
   */
  retire?(): void;
  /** Pipelining and stray-byte counters (H1Pool only). */
  pipelineCounters?(): PipelineCounters;
}

/** What pipelining did on a pool (h1-pipelining.ts), and its reused connections that read stray bytes, counted since start. */
export interface PipelineCounters {
  /** Requests written behind others on a connection. */
  pipelined: number;
  /** Requests written behind one whose connection was lost, retried once on another connection. */
  retried: number;
  /** Responses read and dropped: their client had gone, or their deadline passed. */
  discarded: number;
  /** Reused connections dropped: they read bytes sent before the request written on them (h1-reuse-turn.ts). */
  stray: number;
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
  /** Requests in flight per connection (HTTP/1.1 pipelining of body-less GET/HEAD/OPTIONS); default 1 = off. */
  pipelining?: number;
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
  /**
   * One header value the caller has already proven to hold only HTAB, SP and visible ASCII (the
   * Authorization value extract parsed as `Bearer <b64token>`): a value equal to it skips the
   * head's CR/LF/NUL check; every other value is checked. Absent/null = check every value.
   */
  readonly checkedValue?: string | null;
}

export function h1Error(code: string, message: string, requestSent: boolean, cause?: unknown, bodyUnsent = false): H1Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as H1Error;
  err.code = code;
  err.requestSent = requestSent;
  if (bodyUnsent) err.bodyUnsent = true;
  return err;
}

/** RFC 9110 §9.2.2: a request that can be repeated without a different effect. */
export function isIdempotent(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE' || method === 'PUT' || method === 'DELETE';
}

/**
 * A request with content on a method that defines no use for it (RFC 9110 §9.3: GET, HEAD, DELETE,
 * OPTIONS, TRACE, CONNECT). Servers that read no body for such a method (CL.0) take the body for their
 * next request and answer it on the same connection, later: that connection is not reused, or the
 * answer would be the next client's response (the head says `connection: close`: h1-request-head.ts).
 */
export function bodyMayBeUnread(req: H1Request): boolean {
  return req.body !== null && req.contentLength !== 0 && bodyUnusedBy(req.method);
}

// ---- retry decisions ----------------------------------------------------------
// Two retries exist, each at most once per request, and neither can duplicate a request the
// upstream may have acted on.

/** What the connection knows about a transaction that failed with H1_RESET. */
export interface FreshSocketFacts {
  readonly gotBytes: boolean;
  readonly retried: boolean;
  readonly requestSent: boolean;
  /** The socket had served a transaction before (a reused keep-alive socket). */
  readonly reusedSocket: boolean;
  readonly hasBody: boolean;
  readonly method: string;
}

/**
 * Same origin, fresh socket (inside H1Pool): nothing was written yet (waiting for the first body
 * byte), or the stale keep-alive race — the server closed a reused socket as we wrote a
 * replayable request to it.
 */
export function retryOnFreshSocket(code: string, f: FreshSocketFacts): boolean {
  return code === 'H1_RESET' && !f.gotBytes && !f.retried &&
    (!f.requestSent || (f.reusedSocket && !f.hasBody && isIdempotent(f.method)));
}

/** True for a connection-level failure (refused, unreachable, connect timeout, TLS): the target is at fault and nothing was sent. */
export function isConnectFailure(err: H1Error): boolean {
  return !err.requestSent && !err.code.startsWith('H1_');
}

/**
 * Another target (in the Relay, which owns target choice): a connection-level failure on the
 * first attempt of an idempotent request without a body, when the upstream has another target.
 */
export function retryOnAnotherTarget(err: H1Error, attempt: number, hasBody: boolean, method: string, targets: number): boolean {
  return isConnectFailure(err) && attempt === 0 && !hasBody && isIdempotent(method) && targets > 1;
}
