// Ending a relay early, from outside its request (node/http/relay.ts): the upstream exchange stopped,
// then the client answered or cut — a streamed response whose token was revoked or expired or a reload
// no longer allows (endStream), a request still waiting for its head (endPending), and shutdown.
import type { ProxyError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import type { H1Control } from '../upstream/h1-client.js';
import type { RequestBody } from './request-body.js';

/** What ending needs of a relay (relay.ts Relay). */
export interface EndingRelay {
  readonly done: boolean;
  readonly aborted: boolean;
  /** The upstream's status once its head arrived (0 before). */
  readonly status: number;
  readonly ctx: RequestContext;
  errorKind: string | null;
  readonly headersWritten: boolean;
  headDue: boolean;
  readonly controller: H1Control | null;
  readonly body: RequestBody | null;
  cut(reason: string): void;
  sendError(err: ProxyError, closeConnection?: boolean): void;
}

/** Abort the upstream request and stop reading the request body (each once). */
export function stopExchange(r: EndingRelay): void {
  const c = r.controller;
  if (c !== null && !c.aborted) c.abort();
  const b = r.body;
  if (b !== null && !b.destroyed) b.destroy();
}

/**
 * End a response whose body is still streaming (SSE…) because its token was revoked or
 * expired, or a reload no longer allows it (node/ws): the client connection is closed, so the client
 * sees the stream end without a last chunk — or, a head still held (unknown length, no body byte
 * yet: nothing written), gets `err` instead. `reason` goes to the access log. False when no response is streaming.
 */
export function endStream(r: EndingRelay, reason: string, err: ProxyError): boolean {
  if (r.done || r.aborted || r.status === 0) return false;
  r.ctx.denyReason = reason;
  r.errorKind = reason;
  const c = r.controller;
  if (c !== null && !c.aborted) c.abort();
  // cut with nothing written, the client saw its connection close without any answer
  if (!r.headersWritten) { r.headDue = false; r.sendError(err, true); return true; }
  r.cut(reason);
  return true;
}

/**
 * Its token was revoked while the request waits for its response head (a long poll, an upload
 * still arriving): the upstream request is cancelled (the upstream sees the body cut off) and
 * the client gets `err`, the connection closed (the rest of its body is never read). `reason`
 * goes to the access log. False when a response already started (endStream's case) or it ended.
 */
export function endPending(r: EndingRelay, reason: string, err: ProxyError): boolean {
  if (r.done || r.aborted || r.status !== 0 || r.headersWritten) return false;
  r.ctx.denyReason = reason;
  r.errorKind = reason;
  stopExchange(r);
  r.sendError(err, true);
  return true;
}

/**
 * Shutdown after the drain period: the upstream request is cancelled and the client
 * connection closed at once (an answer written now could keep the process waiting for a
 * client that does not read it).
 */
export function shutdownRelay(r: EndingRelay): void {
  if (r.done || r.aborted) return;
  stopExchange(r);
  r.cut('shutdown');
}
