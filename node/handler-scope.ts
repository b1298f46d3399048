// Answers that close the client connection, held until uWS's parse loop has returned: uWS
// reads a connection's next pipelined request in the same native call and clears its close flag.
import type { HttpResponse } from 'uWebSockets.js';

/**
 * True while the listener's uWS request handler runs (set and cleared by Listener.handle).
 * uWS.js runs its handlers one at a time on this thread, so one flag serves every listener.
 */
export const handlerScope = { inside: false };

/**
 * Run `write` — a response ending with `Connection: close` — where uWS will honour the close.
 *
 * Inside the handler, the pinned uWS build writes `Connection: close` but, when the same read
 * holds another request (pipelined, or the "body" of a request the proxy refused for its
 * framing: two Content-Lengths, a Transfer-Encoding list), it parses that request next, resets
 * the close and hands it to the proxy: a request smuggled behind a refusal (README
 * "Limitations", Pipelining). Deferred to setImmediate, the refused request's response is still
 * pending when uWS meets a following request, and uWS closes the connection without handing it
 * over; alone on its connection, the answer is written one turn later and closes as promised.
 * `write` must check for itself whether the client left meanwhile (the caller's onAborted).
 * Outside the handler (after an await) `write` runs at once. Never throws; `write` must not either.
 */
export function closeAfterParse(write: () => void): void {
  if (!handlerScope.inside) write();
  else setImmediate(write);
}

/**
 * closeAfterParse for a response no object owns yet (refused before it had a relay): registers
 * its onAborted (uWS requires one for a response left pending) and writes corked, unless the
 * client left meanwhile (then nothing is written: uWS closed the connection).
 */
export function answerAfterParse(res: HttpResponse, write: () => void): void {
  if (!handlerScope.inside) { res.cork(write); return; }
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  setImmediate(() => { if (!aborted) res.cork(write); });
}

