// server.http2.idle_timeout_ms for a session, and the timer node:http2 leaves armed after the session
// is destroyed: Node 20's closeSession marks the session destroyed before its setTimeout(0), which then
// returns early — every closed session (its state, socket wrapper, guard) stayed reachable until its
// idle timer ran out, ~3.5 KB of heap per connection for idle_timeout_ms (2 min by default).
import type { ServerHttp2Session } from 'node:http2';

/** The property node's stream_base_commons keeps the timer in (`Symbol(timeout)`), found once per process. */
let timerKey: symbol | null | undefined;

function timerOf(session: ServerHttp2Session): NodeJS.Timeout | undefined {
  if (timerKey === undefined) timerKey = Object.getOwnPropertySymbols(session).find((k) => k.description === 'timeout') ?? null;
  if (timerKey === null) return undefined;
  return (session as unknown as Record<symbol, NodeJS.Timeout | undefined>)[timerKey];
}

/**
 * Call `onIdle` after `ms` without frames on `session` (node:http2's own session timeout, refreshed by
 * its traffic); 0 disables. The timer is cleared when the session closes, whatever closed it.
 */
export function sessionIdle(session: ServerHttp2Session, ms: number, onIdle: () => void): void {
  if (ms <= 0) return;
  session.setTimeout(ms, onIdle);
  session.once('close', () => {
    const t = timerOf(session);
    if (t !== undefined) clearTimeout(t);
  });
}
