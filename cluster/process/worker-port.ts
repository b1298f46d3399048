// The proxy port `serve --workers N` shares between its workers (uWS binds with SO_REUSEPORT), chosen
// and checked by the primary before it forks them.
import { createServer } from 'node:net';

/**
 * The port the workers will share (SO_REUSEPORT): `port`, or a free one for 0. Bound once without
 * SO_REUSEPORT and released, so a port another process holds — even one that shares it — refuses the
 * start (rejects naming it) instead of the workers silently sharing its connections.
 */
export function portForWorkers(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'another process holds the port' : err.message}`)));
    s.listen(port, host, () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0)); });
  });
}

/** A free TCP port on `host` (bound, then released): the dev demos' ports and a port-0 config's. */
export function freePort(host: string): Promise<number> {
  return portForWorkers(host, 0);
}
