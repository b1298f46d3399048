// The request side of one upstream connection (h1-connection.ts): writes the head, and the body
// either inline with it (small and already buffered) or streamed, with Content-Length checked or
// chunked framing added, pausing the client's body while the socket drains. Module-level
// functions on the connection's own fields: no object or closure per request (the body
// listeners are bound once per socket, in H1Connection).
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { H1Transaction } from './h1-transaction.js';
import { runNow } from '../run-clock.js';

/** The connection fields the writer reads and writes (H1Connection is the one implementation). */
export interface RequestWriterConn {
  readonly socket: Socket;
  tx: H1Transaction | null;
  body: Readable | null;
  bodyRemaining: number;
  bodyChunked: boolean;
  bodyWaitingDrain: boolean;
  readonly onBodyDataBound: (c: Buffer | string) => void;
  readonly onBodyEndBound: () => void;
  readonly onBodyErrorBound: (e: Error) => void;
  readonly onBodyCloseBound: () => void;
  fail(tx: H1Transaction, code: string, message: string, cause: unknown): void;
}

/** A body this small that is already buffered goes out in the same write as the head. */
const INLINE_BODY_MAX = 64 * 1024;
/**
 * Up to this, an inline body is copied behind its head into one buffer (one small write); above, head and
 * body go out in one corked write (writev): a body read whole (node/http/body-buffer.ts) is not copied again.
 */
const INLINE_COPY_MAX = 16 * 1024;

/** Write `tx` on a connected socket (the caller has set it busy). */
export function writeRequest(c: RequestWriterConn, tx: H1Transaction): void {
  const s = c.socket;
  const body = tx.req.body;
  const cl = tx.req.contentLength;
  if (body === null || cl === 0) {
    tx.requestSent = true;
    s.write(tx.head, 'latin1');
    tx.sentAt = runNow();
  } else if (cl > 0 && cl <= INLINE_BODY_MAX && body.readableLength >= cl && !body.readableObjectMode) {
    const data = body.read(cl) as Buffer | null;
    if (data === null || data.length !== cl) {
      c.fail(tx, 'H1_REQUEST_BODY', 'request body shorter than content-length', null);
      return;
    }
    tx.requestSent = true;
    if (cl > INLINE_COPY_MAX) {
      s.cork();
      s.write(tx.head, 'latin1');
      s.write(data);
      s.uncork();
    } else {
      const headLen = tx.head.length;
      const out = Buffer.allocUnsafe(headLen + cl);
      out.write(tx.head, 0, headLen, 'latin1');
      data.copy(out, headLen);
      s.write(out);
    }
    tx.sentAt = runNow();
  } else {
    // The head waits for the first body byte (as in undici): a body that fails before any
    // data, e.g. malformed framing from the client, never reaches the upstream.
    streamBody(c, tx, body, cl);
  }
  if (tx.paused && c.tx === tx) s.pause(); // a pipelined one behind it must not stop the reading of the one ahead
}

function streamBody(c: RequestWriterConn, tx: H1Transaction, body: Readable, cl: number): void {
  if (body.destroyed && !body.readableEnded) {
    c.fail(tx, 'H1_REQUEST_BODY', 'request body stream destroyed', null);
    return;
  }
  c.body = body;
  c.bodyChunked = cl < 0;
  c.bodyRemaining = cl;
  c.bodyWaitingDrain = false;
  if (body.readableEnded) {
    onBodyEnd(c);
    return;
  }
  body.on('data', c.onBodyDataBound);
  body.on('end', c.onBodyEndBound);
  body.on('error', c.onBodyErrorBound);
  body.on('close', c.onBodyCloseBound);
  body.resume();
}

export function detachBody(c: RequestWriterConn): void {
  const body = c.body;
  if (body === null) return;
  c.body = null;
  c.bodyWaitingDrain = false;
  body.off('data', c.onBodyDataBound);
  body.off('end', c.onBodyEndBound);
  body.off('error', c.onBodyErrorBound);
  body.off('close', c.onBodyCloseBound);
  body.pause();
}

export function onBodyData(c: RequestWriterConn, data: Buffer | string): void {
  const tx = c.tx;
  if (tx === null || c.body === null) return;
  const chunk = typeof data === 'string' ? Buffer.from(data) : data;
  const n = chunk.length;
  if (n === 0) return; // a zero-size chunk would end a chunked body
  const s = c.socket;
  if (!c.bodyChunked && n > c.bodyRemaining) {
    c.fail(tx, 'H1_REQUEST_BODY', 'request body longer than content-length', null);
    return;
  }
  let ok: boolean;
  s.cork();
  if (!tx.requestSent) {
    tx.requestSent = true;
    s.write(tx.head, 'latin1');
  }
  if (c.bodyChunked) {
    s.write(n.toString(16) + '\r\n', 'latin1');
    s.write(chunk);
    ok = s.write('\r\n', 'latin1');
  } else {
    c.bodyRemaining -= n;
    ok = s.write(chunk);
  }
  s.uncork();
  if (!ok) {
    c.bodyWaitingDrain = true;
    tx.activity = true;
    c.body.pause();
  }
}

export function onDrain(c: RequestWriterConn): void {
  if (!c.bodyWaitingDrain || c.body === null) return;
  c.bodyWaitingDrain = false;
  if (c.tx !== null) c.tx.activity = true;
  c.body.resume();
}

export function onBodyEnd(c: RequestWriterConn): void {
  const tx = c.tx;
  if (tx === null || c.body === null) return;
  if (!c.bodyChunked && c.bodyRemaining !== 0) {
    c.fail(tx, 'H1_REQUEST_BODY', 'request body shorter than content-length', null);
    return;
  }
  detachBody(c);
  const head = tx.requestSent ? '' : tx.head;
  tx.requestSent = true;
  if (c.bodyChunked) c.socket.write(head + '0\r\n\r\n', 'latin1');
  else if (head !== '') c.socket.write(head, 'latin1');
  if (!tx.responseStarted) tx.sentAt = runNow();
}

export function onBodyError(c: RequestWriterConn, err: Error | null): void {
  const tx = c.tx;
  if (tx === null || c.body === null) return;
  c.fail(tx, 'H1_REQUEST_BODY', err === null ? 'request body closed before its end' : `request body failed: ${err.message}`, err);
}
