// The proxy port `serve --workers N` shares between its workers (uWS binds with SO_REUSEPORT), chosen
// and checked by the primary before it forks them.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports tried for `port: 0` start here (below them: well-known and registered services people pin). */
const PICK_LOW = 10_000;
/** Random picks tried below the ephemeral range before falling back to the kernel's choice. */
const PICK_TRIES = 64;

/**
 * A port browsers and fetch() refuse to connect to (the Fetch standard's "bad port" list; above
 * PICK_LOW it holds 10080 alone): never picked, or a demo's URL and a test's fetch fail with "bad port".
 */
export function fetchBlocked(port: number): boolean {
  return port === 10_080;
}

/** Lowest port the kernel hands out for port-0 binds and outgoing connections (Linux default 32768). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > PICK_LOW + 1_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Bind `port` on `host` once without SO_REUSEPORT and release it: the port bound, or the bind error. */
function tryPort(host: string, port: number): Promise<{ port: number } | { err: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve({ err }));
    s.listen(port, host, () => { const a = s.address(); s.close(() => resolve({ port: typeof a === 'object' && a !== null ? a.port : 0 })); });
  });
}

/**
 * The port the workers will share (SO_REUSEPORT): `port`, or a free one for 0. Bound once without
 * SO_REUSEPORT and released, so a port another process holds — even one that shares it — refuses the
 * start (rejects naming it) instead of the workers silently sharing its connections.
 *
 * For 0 the port is picked at random *below* the kernel's ephemeral range: between this check and the
 * workers' bind the port is free for anyone, and a port from the ephemeral range is exactly what the
 * kernel hands the next outgoing connection or port-0 bind on the host — a busy host (a load test, a
 * test suite beside it) took it often enough that a worker's bind failed and the start with it.
 */
export async function portForWorkers(host: string, port: number): Promise<number> {
  if (port === 0) {
    const high = ephemeralLow();
    for (let i = 0; i < PICK_TRIES; i++) {
      const pick = PICK_LOW + Math.floor(Math.random() * (high - PICK_LOW));
      if (fetchBlocked(pick)) continue;
      const r = await tryPort(host, pick);
      if ('port' in r) return r.port;
      if (r.err.code !== 'EADDRINUSE') break; // not a busy port: the kernel's answer below says what
    }
  }
  const r = await tryPort(host, port);
  if ('port' in r) return r.port;
  throw new Error(`cannot listen on ${host}:${port}: ${r.err.code === 'EADDRINUSE' ? 'another process holds the port' : r.err.message}`);
}

/** A free TCP port on `host` (bound, then released): the dev demos' ports and a port-0 config's. */
export function freePort(host: string): Promise<number> {
  return portForWorkers(host, 0);
}
