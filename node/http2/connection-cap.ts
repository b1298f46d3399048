// server.http2.max_connections: the HTTP/2 listener's cap on open connections per process. A TCP
// connection past it is destroyed by the first 'connection' listener, before TLS or HTTP/2 reads a
// byte; each counts until its socket's 'close'. Refusals are counted and logged at most once a second.
import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';

/** Refusal lines are at most this often, ms: 1 s. */
export const REFUSAL_LOG_INTERVAL_MS = 1_000;
/** The cap when /proc/self/limits cannot be read (not Linux): half of Debian's 1024 soft limit. */
const FALLBACK_CAP = 512;

/** The process's soft RLIMIT_NOFILE (`ulimit -n`, systemd LimitNOFILE), null when unknown or unlimited. */
export function softFdLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch { return null; }
}

/**
 * The cap when server.http2.max_connections is absent: half the soft fd limit (512 under 1024,
 * 32768 under LimitNOFILE=65536), leaving the other half to the uWS listener, upstreams, admin and NATS.
 */
export function defaultMaxConnections(fdLimit: number | null = softFdLimit()): number {
  return fdLimit === null ? FALLBACK_CAP : Math.max(16, Math.floor(fdLimit / 2));
}

/**
 * Cap `server` at `max` open connections; `refused` per connection closed at accept, `log` at most
 * once a second with the refusals since the last line. Not node's net.Server.maxConnections: in a
 * bare node:cluster round-robin worker a connection it refuses goes back to the primary, which hands
 * it out again, forever (Node 20.20, one worker: ~1 core, the client never closed; not reproduced
 * through `serve --workers 1`) — the socket is taken and destroyed here, the same in every mode.
 */
export function capConnections(server: Server, max: number, refused: () => void, log: (count: number) => void): void {
  let open = 0;
  let last = -Infinity;
  let pending = 0;
  const closed = (): void => { open--; };
  server.prependListener('connection', (socket: Socket) => {
    if (open < max) { open++; socket.once('close', closed); return; }
    socket.destroy();
    refused();
    pending++;
    const now = performance.now();
    if (now - last < REFUSAL_LOG_INTERVAL_MS) return;
    last = now;
    log(pending);
    pending = 0;
  });
}
