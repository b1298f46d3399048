// A request head written below net.Socket's Writable stream: straight to the TCP handle's
// `writeLatin1String` (where `socket.write(str, 'latin1')` ends up), only while the stream has
// nothing of its own queued, corked or in flight; otherwise, or when Node's internals are not
// as expected, `socket.write`. Relies on the Node internal `process.binding('stream_wrap')`.
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Node's write request object (internalBinding('stream_wrap').WriteWrap); one per connection is reused. */
export interface WriteReq {
  oncomplete: ((this: WriteReq, status: number) => void) | null;
  /** The socket this request belongs to (ours, read by onWriteComplete). */
  socket: Socket | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** The parts of the libuv TCP handle (`socket._handle`) the direct write uses. */
interface TcpHandle {
  writeLatin1String(req: WriteReq, data: string): number;
  readonly writeQueueSize: number;
}

/**
 * The binding when the direct write can be used: `process.binding('stream_wrap')` with the
 * expected shape, and PORTCULLIS_UPSTREAM_DIRECT_WRITE not `0`. null → every write is `socket.write`.
 */
function loadBinding(): StreamWrapBinding | null {
  if (process.env.PORTCULLIS_UPSTREAM_DIRECT_WRITE === '0') return null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number') return null;
    return b as StreamWrapBinding;
  } catch {
    return null; // a Node without process.binding (or without this binding in its allow-list)
  }
}

let binding = loadBinding();

/** True when writes may go below the stream (Node internals as expected and not switched off). */
export function directWriteAvailable(): boolean {
  return binding !== null;
}

/** Tests only: force the stream path (false) or re-detect (true). */
export function setDirectWrite(enabled: boolean): void {
  binding = enabled ? loadBinding() : null;
}

/** Counters of the process's direct writes (tests and the bench read them). */
export const directWriteCounters = { direct: 0, fallback: 0, async: 0 };

/** The error socket.write's own path would give for a failed write (Node's errnoException shape). */
function writeError(status: number): NodeJS.ErrnoException {
  let code: string;
  try { code = getSystemErrorName(status); } catch { code = `E${-status}`; }
  const e: NodeJS.ErrnoException = new Error(`write ${code}`);
  e.errno = status;
  e.code = code;
  e.syscall = 'write';
  return e;
}

/** A write that went to libuv's queue has completed: a failure destroys the socket, as Node's onWriteComplete does. */
function onWriteComplete(this: WriteReq, status: number): void {
  const s = this.socket;
  this.socket = null;
  if (status < 0 && s !== null && !s.destroyed) s.destroy(writeError(status));
}

/**
 * Write `data` (latin1) on a plain-TCP socket. `spare` is the connection's reusable request
 * object (null at first); returns the one to pass next time (a request that went asynchronous
 * stays with libuv until it completes, so a new one is made). Ordering: only when the Writable has
 * nothing buffered, corked or being written and libuv's queue is empty does the direct write run;
 * a direct write that libuv had to queue is ahead of everything written after it (libuv keeps
 * order and `writeQueueSize` sends later direct writes through the stream). Errors destroy the
 * socket with Node's `write <CODE>` error: the 'error'/'close' path of socket.write.
 * Not counted: socket.bytesWritten and the socket idle timer (nothing here uses either).
 */
export function writeLatin1(s: Socket, data: string, spare: WriteReq | null): WriteReq | null {
  const b = binding;
  const h = (s as unknown as { _handle: TcpHandle | null })._handle;
  if (b === null || h === null || typeof h.writeLatin1String !== 'function' || s.connecting || s.destroyed
    || s.writableLength !== 0 || s.writableCorked !== 0 || s.writableEnded || h.writeQueueSize !== 0) {
    directWriteCounters.fallback++;
    s.write(data, 'latin1');
    return spare;
  }
  const req = spare ?? new b.WriteWrap();
  req.oncomplete = onWriteComplete;
  req.socket = s;
  const err = h.writeLatin1String(req, data);
  if (err !== 0) {
    req.socket = null;
    directWriteCounters.direct++;
    s.destroy(writeError(err));
    return req;
  }
  directWriteCounters.direct++;
  if (b.streamBaseState[b.kLastWriteWasAsync] !== 0) {
    directWriteCounters.async++;
    return null; // libuv holds `req` until onWriteComplete
  }
  req.socket = null;
  return req;
}
