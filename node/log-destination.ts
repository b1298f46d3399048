// stdout as pino's asynchronous destination (sonic-boom 4.2): whole Buffers per line, a bound on
// what waits for a slow reader, an exit flush that is bounded in time and gives up on a dead
// reader, and the count of lines it could not write (portcullis_log_lines_dropped_total).
import { writeSync } from 'node:fs';
import pino from 'pino';

type Destination = ReturnType<typeof pino.destination>;

/** sonic-boom's pending state in buffer mode (4.2.x fields, read by the exit flush only). */
interface Pending { fd: number; _bufs: Buffer[][]; _lens: number[]; _len: number; _writing: boolean; _writingBuf: Buffer }

/** How long the exit flush keeps retrying a full pipe (EAGAIN) with no byte taken before giving up on the rest: 2 s. */
export const EXIT_FLUSH_MS = 2_000;
/** Bytes of lines held while stdout does not take them, by default (`log.buffer_bytes`): 16 MiB. */
export const DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024;
/** Bytes a pipe writes whole or not at all (POSIX PIPE_BUF on Linux): one write(2) of shared stdout at most. */
const PIPE_BUF = 4096;
/** How often `settled` looks whether a write is still in flight: 5 ms. */
const SETTLE_POLL_MS = 5;
const settlers = new WeakMap<object, () => Promise<void>>();

/**
 * Resolves once `dest` (a lineDestination) has no write(2) in flight, so that exiting now loses no
 * line: at once when idle, after the reader took the rest when it keeps reading (however slowly),
 * after EXIT_FLUSH_MS without progress when it stalls (the exit flush then counts what is left).
 * Any other destination (pino-pretty's transport): at once. Before, the process exited 20 ms after
 * its last line and a write still in flight lost its rest (12 of 1 000 lines, a slow reader, a loaded host).
 */
export function settled(dest: object): Promise<void> { return settlers.get(dest)?.() ?? Promise.resolve(); }

/** True for a destination made by lineDestination (JSON lines, U+2028/U+2029 escaped): not pino-pretty's transport. */
export function isLineDestination(dest: object): boolean { return settlers.has(dest); }

/** Pause between two tries of a full pipe at exit: 5 ms. */
const RETRY_PAUSE_MS = 5;
const NEWLINE = 0x0a;
const pause = new Int32Array(new SharedArrayBuffer(4));

let dropped = 0;

/** Log lines this process's destination could not write (a reader gone, a full pipe at exit). */
export function logLinesDropped(): number { return dropped; }

const SEPARATORS = /[\u2028\u2029]/g;

/**
 * `line` with U+2028/U+2029 written as JSON escapes (`\u2028`): JSON.stringify leaves them raw, and
 * readers that split on every Unicode line break (Python's splitlines, editors, some shippers) cut
 * a line there — a client could split its own access line (a path with %E2%80%A8 bytes refused
 * before routing) into two pieces that no JSON reader takes. Outside strings JSON has neither
 * character, so the escaped line is the same JSON value.
 */
export function oneLine(line: string): string {
  return line.indexOf('\u2028') < 0 && line.indexOf('\u2029') < 0 ? line : line.replace(SEPARATORS, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}

function linesIn(bufs: readonly Buffer[]): number {
  let n = 0;
  for (const b of bufs) for (let at = b.indexOf(NEWLINE); at >= 0; at = b.indexOf(NEWLINE, at + 1)) n++;
  return n;
}

/**
 * stdout as pino's asynchronous destination, holding the lines written while a write(2) is in
 * flight as Buffers. In its default string mode sonic-boom appends each line to the pending
 * string and takes that string's Buffer.byteLength, which flattens the whole pending batch again
 * for every line: ~4.7 KB of heap per access line under 64 connections (bench/RESULTS.md, issue
 * 13 alloc). A line copied once into a Buffer, the batch concatenated once per write(2): same bytes.
 * Writes stay asynchronous; only the exit flush (pino's exit hook) writes synchronously.
 * `maxBytes` bounds the lines waiting for a reader that does not keep up: a line that would pass it
 * is dropped and counted (sonic-boom's maxLength). Without it a stalled log shipper let a request
 * flood grow the process by every line (+76 MB of RSS per 100k 401s, never given back).
 * `shared`: other processes write the same stdout (the workers and primary of `serve --workers N`):
 * each write(2) then carries whole lines of at most PIPE_BUF bytes, which a pipe takes whole or not
 * at all — larger ones (16 KiB batches) were taken in part and another process's lines landed inside
 * a line, two lines no JSON reader takes (2 in 30,000 through a slow reader).
 */
export function lineDestination(maxBytes = DEFAULT_BUFFER_BYTES, shared = false): Destination {
  // true while sonic-boom waits (100 ms timer) to retry a write the full pipe refused: the rest of
  // its writing buffer is then not in flight, and the exit flush must write it first
  let retryWaiting = false;
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0, maxLength: maxBytes, ...(shared ? { maxWrite: PIPE_BUF } : {}), contentMode: 'buffer', retryEAGAIN: () => { retryWaiting = true; return true; } });
  const state = dest as unknown as Pending;
  dest.on('drop', (line: Buffer) => { dropped += linesIn([line]); });
  dest.on('write', () => { retryWaiting = false; });
  const writeBuffer = dest.write as unknown as (this: Destination, b: Buffer) => boolean;
  dest.write = function write(this: Destination, line: string | Buffer) { return writeBuffer.call(this, typeof line === 'string' ? Buffer.from(oneLine(line)) : line); } as typeof dest.write;
  // pino's own listener (added first) stops the stream on EPIPE; this one counts what it dropped
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    dropped += linesIn([state._writingBuf, ...state._bufs.flat()]);
    state._bufs = []; state._lens = []; state._len = 0; state._writingBuf = Buffer.alloc(0);
    // one per line, not per call: the audit trail hands over a batch of records in one write
    dest.write = ((line: string | Buffer) => { dropped += linesIn([typeof line === 'string' ? Buffer.from(line) : line]); return true; }) as typeof dest.write;
  });
  dest.flushSync = () => exitFlush(state, retryWaiting, shared);
  settlers.set(dest, () => new Promise<void>((resolve) => {
    // a write(2) in flight through libuv when the process exits is lost with whatever it had not
    // taken yet (a partial write's rest is re-issued from its callback, which never runs): wait
    // until none is in flight — or a full pipe's retry is pending, whose bytes the exit flush writes
    let deadline = Date.now() + EXIT_FLUSH_MS;
    let len = state._len;
    const poll = setInterval(() => {
      if (!state._writing || retryWaiting || state.fd < 0) { clearInterval(poll); resolve(); return; }
      if (state._len !== len) { len = state._len; deadline = Date.now() + EXIT_FLUSH_MS; }
      if (Date.now() >= deadline) { clearInterval(poll); resolve(); }
    }, SETTLE_POLL_MS);
  }));
  return dest;
}

/**
 * Write what is pending with write(2) at exit, in order: given up after EXIT_FLUSH_MS without a
 * byte taken by a full pipe (EAGAIN), at once on any other error (EPIPE: the reader is gone; EBADF, ENOSPC…).
 * What is not written is counted in whole lines. sonic-boom's own flushSync retries such errors
 * every 100 ms forever, so a process with a dead stdout reader never exited. `shared`: in whole lines
 * of at most PIPE_BUF bytes per write(2), as while running — one write of everything queued was taken
 * in part by a full pipe, and the other processes exiting with it (a stop of `serve --workers N`)
 * wrote their lines inside its lines.
 */
function exitFlush(s: Pending, retryWaiting: boolean, shared: boolean): void {
  if (s.fd < 0) return;
  const chunks = s._bufs.flat();
  // a write in flight (not waiting for its retry) goes out through libuv: leave its bytes to it
  if ((retryWaiting || !s._writing) && s._writingBuf.length > 0) chunks.unshift(s._writingBuf);
  s._bufs = []; s._lens = []; s._len = 0; s._writingBuf = Buffer.alloc(0);
  let buf = Buffer.concat(chunks);
  let deadline = Date.now() + EXIT_FLUSH_MS;
  while (buf.length > 0) {
    try {
      const n = writeSync(s.fd, buf, 0, shared ? wholeLines(buf) : buf.length);
      buf = buf.subarray(n);
      // a reader that keeps reading, however slowly, gets every line; only a stalled one is bounded
      if (n > 0) deadline = Date.now() + EXIT_FLUSH_MS;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'EAGAIN' && code !== 'EBUSY') || Date.now() >= deadline) break;
      Atomics.wait(pause, 0, 0, RETRY_PAUSE_MS);
    }
  }
  dropped += linesIn([buf]);
}

/** Bytes of `buf`'s next write(2) to a shared pipe: its whole lines up to PIPE_BUF bytes, or its first line alone when longer. */
function wholeLines(buf: Buffer): number {
  if (buf.length <= PIPE_BUF) return buf.length;
  const last = buf.lastIndexOf(NEWLINE, PIPE_BUF - 1);
  if (last >= 0) return last + 1;
  const end = buf.indexOf(NEWLINE, PIPE_BUF);
  return end < 0 ? buf.length : end + 1;
}
