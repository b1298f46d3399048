// Whether an upstream socket is reused after a response, and how long it may then stay idle: the
// keep-alive policy a connection (h1-connection.ts) applies at each response end.
import type { H1Parser } from './h1-parser.js';
import { bodyMayBeUnread, type H1Request } from './h1-client.js';

/**
 * How long the socket that just read `p`'s response may idle before it is closed, ms (the pool's
 * `keepAliveMs`, shortened by the server's Keep-Alive `timeout=` hint minus 1 s); -1 when it must not
 * be reused. Reusable only after a clean transaction: keep-alive, no stray bytes (unless a pipelined
 * response follows), request body fully sent (`uploading`: answered before its body was all sent, an
 * early 413…), socket not destroyed (read back after a failed write), no body a server may leave unread
 * (h1-client.ts bodyMayBeUnread). A HEAD/204/304 answer announcing a length is never keep-alive
 * (h1-parser.ts): the bytes after its head (in this read or a later one) may be a stray body, not the
 * next response — requests pipelined behind it are retried on another connection.
 */
export function idleAfterResponse(p: H1Parser, followers: boolean, noExtraBytes: boolean, uploading: boolean,
  socketDestroyed: boolean, req: H1Request, keepAliveMs: number): number {
  if (!((followers ? !p.lengthWithoutBody : noExtraBytes) && p.keepAlive && !uploading && !socketDestroyed && !bodyMayBeUnread(req))) return -1;
  if (p.keepAliveHintMs < 0) return keepAliveMs;
  const hint = p.keepAliveHintMs - 1000;
  return hint <= 0 ? -1 : Math.min(keepAliveMs, hint);
}
