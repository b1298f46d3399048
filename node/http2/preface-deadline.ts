// server.http2.preface_timeout_ms for a session: closed (GOAWAY, then destroyed, with its socket)
// unless the client's preface and first SETTINGS arrive in time. Before, a connection that sent
// nothing held its server.http2.max_connections slot for idle_timeout_ms (2 min).
import type { ServerHttp2Session } from 'node:http2';

/**
 * Call `close` (the session guard's close: counted, logged, GOAWAY, destroy) unless the client's
 * first SETTINGS — which follows its preface — arrives within `ms`. One unref'd timer per
 * connection, not per request; cleared on that SETTINGS or the session's close.
 */
export function prefaceDeadline(session: ServerHttp2Session, ms: number, close: () => void): void {
  const timer = setTimeout(close, ms).unref();
  const proven = (): void => clearTimeout(timer);
  session.once('remoteSettings', proven);
  session.once('close', proven);
}
