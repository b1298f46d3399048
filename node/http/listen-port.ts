// How the uWS listener binds its port: exclusively for one process, shared (SO_REUSEPORT) between
// `serve --workers` siblings. uWS shares by default, so a second process on the same port — another
// config, a forgotten instance — would silently take half the connections.
import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

/** uSockets' listen options (LIBUS_LISTEN_DEFAULT shares the port, LIBUS_LISTEN_EXCLUSIVE_PORT does not). */
const LIBUS_LISTEN_DEFAULT = 0;
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** The binary's (host, port, options, cb) overload, which the pinned build's type declarations leave out. */
type ListenWithOptions = (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => TemplatedApp;

/** Bind `host:port` on `app`; `shared`: with SO_REUSEPORT (workers), else exclusive (a held port fails: `cb(false)`). */
export function listenOn(app: TemplatedApp, host: string, port: number, shared: boolean, cb: (s: us_listen_socket | false) => void): void {
  (app.listen as unknown as ListenWithOptions).call(app, host, port, shared ? LIBUS_LISTEN_DEFAULT : LIBUS_LISTEN_EXCLUSIVE_PORT, cb);
}

/**
 * Bind `host:port` for one process that must be able to bind it again beside itself (a renewed TLS
 * certificate served by a second app, listener-tls.ts): bound exclusively first — a port another
 * process holds, shared or not, fails as listenOn's exclusive bind does — then, within the same turn,
 * released and bound shared on the port it got. Another process binding shared later can join it:
 * another `serve` probes exclusively first and fails (README: TLS on the listener). `_shared`: listenOn's shape.
 */
export function listenRebindable(app: TemplatedApp, host: string, port: number, _shared: boolean, cb: (s: us_listen_socket | false) => void): void {
  let probe: us_listen_socket | false = false;
  listenOn(app, host, port, false, (s) => { probe = s; });
  if (probe === false) { cb(false); return; }
  const bound = uWS.us_socket_local_port(probe);
  uWS.us_listen_socket_close(probe);
  listenOn(app, host, bound, true, cb);
}
