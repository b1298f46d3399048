// How the uWS listener binds its port: exclusively for one process, shared (SO_REUSEPORT) between
// `serve --workers` siblings. uWS shares by default, so a second process on the same port — another
// config, a forgotten instance — would silently take half the connections.
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';

/** uSockets' listen options (LIBUS_LISTEN_DEFAULT shares the port, LIBUS_LISTEN_EXCLUSIVE_PORT does not). */
const LIBUS_LISTEN_DEFAULT = 0;
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** The binary's (host, port, options, cb) overload, which the pinned build's type declarations leave out. */
type ListenWithOptions = (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => TemplatedApp;

/** Bind `host:port` on `app`; `shared`: with SO_REUSEPORT (workers), else exclusive (a held port fails: `cb(false)`). */
export function listenOn(app: TemplatedApp, host: string, port: number, shared: boolean, cb: (s: us_listen_socket | false) => void): void {
  (app.listen as unknown as ListenWithOptions).call(app, host, port, shared ? LIBUS_LISTEN_DEFAULT : LIBUS_LISTEN_EXCLUSIVE_PORT, cb);
}
