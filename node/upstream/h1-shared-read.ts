// How a plain-TCP upstream socket reads (net `onread`): into one buffer shared by every such socket
// of the process, each read handled as one run of the run clock (node/run-clock.ts: the response's
// end, its metrics and the connection's return to the pool share one clock reading).
import type { OnReadOpts } from 'node:net';
import { enterRun, leaveRun } from '../run-clock.js';

/**
 * No buffer allocated and no stream 'data' machinery per read. Safe because a read is parsed
 * and handed on synchronously; whatever outlives the callback is copied (the parser's carry,
 * a held remainder in h1-connection.ts, the relay's unsent chunk) — see H1Handler.onResponseData.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** net.connect's `onread` for one socket: `onData` gets a view of the shared buffer, valid until it returns. */
export function sharedRead(onData: (chunk: Buffer) => void): OnReadOpts {
  return {
    buffer: READ_BUFFER,
    callback: (n: number) => {
      enterRun();
      try { onData(READ_BUFFER.subarray(0, n)); } finally { leaveRun(); }
      return true;
    },
  };
}
