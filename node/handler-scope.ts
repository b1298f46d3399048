// Answers that close the client connection, held until uWS's parse loop has returned: uWS
// reads a connection's next pipelined request in the same native call and clears its close flag.
import type { HttpResponse } from 'uWebSockets.js';

/**
 * True while the listener's uWS request handler runs (set and cleared by Listener.handle).
 * uWS.js runs its handlers one at a time on this thread, so one flag serves every listener.
 */
export const handlerScope = { inside: false };

/**
 * Keep-alive answers (a 401 to a GET without a token, a decision verdict…) written inside uWS's
 * handler per event-loop turn; past it the next one closes its connection (README "Limitations",
 * Pipelining). uWS parses a whole read (up to 512 KiB, ~16 000 pipelined requests) in one native
 * call: unbounded, one client's write held the event loop for seconds and, unread, piled up answers.
 */
export const INLINE_ANSWERS_PER_TURN = 128;
let inlineAnswers = 0;
function newTurn(): void { inlineAnswers = 0; }

/**
 * Count one keep-alive answer about to be written inside the handler. False once this turn has
 * written INLINE_ANSWERS_PER_TURN: the caller answers with `Connection: close` after the parse loop
 * (closeAfterParse), and uWS closes that connection at its next pipelined request without reading it.
 * Only on answers written inside the handler; one setImmediate per turn that has any.
 */
export function inlineAnswer(): boolean {
  if (inlineAnswers === 0) setImmediate(newTurn);
  return ++inlineAnswers <= INLINE_ANSWERS_PER_TURN;
}

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
 * Run `fn` with closing answers held as inside the handler: for a uWS body callback (res.onData),
 * which runs inside the same parse loop, so a 413 decided there would have its close reset by the
 * request pipelined behind the body, and that request served. Only on such refusal paths.
 */
export function asInsideParseLoop(fn: () => void): void {
  const was = handlerScope.inside;
  handlerScope.inside = true;
  try { fn(); } finally { handlerScope.inside = was; }
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


/**
 * Write a keep-alive answer from inside the handler: now while the turn's INLINE_ANSWERS_PER_TURN
 * lasts, else after the parse loop (answerAfterParse), so that uWS closes on what is pipelined behind it.
 */
export function answerKeepAlive(res: HttpResponse, write: () => void): void {
  if (inlineAnswer()) write();
  else answerAfterParse(res, write);
}
