// An origin's address (parseOrigin); opening one upstream socket (net or tls) with TCP_NODELAY and TCP keep-alive, each set once,
// resetting it, and reading back what it held when a failed write destroyed it: what a connection
// (h1-connection.ts) reads from and writes to.
import { readSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { sharedRead } from './h1-shared-read.js';

/** Where a connection goes: host, port and TLS settings of one origin. */
export interface H1Origin { host: string; port: number; tls: boolean; servername: string | undefined; rejectUnauthorized: boolean }

/**
 * The origin `http://host:port` or `https://host:port` as a connection needs it: the default port by
 * scheme, an IPv6 literal unbracketed, SNI from the host name (none for an IP). Throws on another scheme.
 */
export function parseOrigin(origin: string, tlsOpts: { rejectUnauthorized?: boolean; servername?: string } | undefined): H1Origin {
  const u = new URL(origin);
  const isTls = u.protocol === 'https:';
  if (!isTls && u.protocol !== 'http:') throw new Error(`unsupported origin protocol ${u.protocol}`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    host,
    port: u.port === '' ? (isTls ? 443 : 80) : Number(u.port),
    tls: isTls,
    servername: tlsOpts?.servername ?? (net.isIP(host) === 0 ? host : undefined),
    rejectUnauthorized: tlsOpts?.rejectUnauthorized ?? true,
  };
}

/** TCP keep-alive probes start after 60 s without traffic on an upstream socket. */
const TCP_KEEPALIVE_MS = 60_000;

/** The TCP socket under each TLS socket opened here: what resetUpstreamSocket resets (Node resets no TLS socket). */
const tcpUnder = new WeakMap<net.Socket, net.Socket>();

/**
 * Connect to `o`: `onConnect` once the socket can carry a request (the TLS handshake done), every
 * chunk read to `onData`. Errors and close are the caller's to listen for. TCP_NODELAY and TCP
 * keep-alive are connect options of the TCP socket (setNoDelay/setKeepAlive on a socket still
 * connecting set each option twice: 10 setsockopt instead of 5 per connection); a TLS socket runs
 * over a TCP socket opened here, so that it can be reset.
 */
export function openUpstreamSocket(o: H1Origin, onData: (chunk: Buffer) => void, onConnect: () => void): net.Socket {
  const opts = { host: o.host, port: o.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_MS };
  if (o.tls) {
    const tcp = net.connect(opts);
    const t = tls.connect({ socket: tcp, host: o.host, servername: o.servername, rejectUnauthorized: o.rejectUnauthorized, ALPNProtocols: ['http/1.1'] });
    tcpUnder.set(t, tcp);
    tcp.on('error', () => { /* reported by the TLS socket over it */ });
    t.on('close', () => tcp.destroy());
    t.on('secureConnect', onConnect);
    t.on('data', onData);
    return t;
  }
  const s = net.connect({ ...opts, onread: sharedRead(onData) });
  s.on('connect', onConnect);
  keepUnreadOnWriteFailure(s);
  return s;
}

/** Bytes still in a socket's receive buffer when a failed write destroyed it (keepUnreadOnWriteFailure). */
const unreadAtFailure = new WeakMap<net.Socket, Buffer>();

/** At most this much is read back from a socket a failed write destroys: an answer's head and a short body. */
const UNREAD_MAX_BYTES = 64 * 1024;

/**
 * An upstream that answers an upload before reading it (413) and closes resets the connection: the
 * proxy's next body write fails, and Node destroys the socket at once, closing it with the answer unread
 * in its receive buffer (the kernel still holds it after the reset). Read that buffer back before the
 * close, for the connection to take (takeUnread) when it hears of the error. Plain TCP only: a TLS
 * socket's buffer holds records its TLS layer must decrypt.
 */
function keepUnreadOnWriteFailure(s: net.Socket): void {
  const own = s._destroy;
  s._destroy = function destroyKeepingUnread(this: net.Socket, err: Error | null, cb: (e?: Error | null) => void): void {
    if ((err as NodeJS.ErrnoException | null)?.syscall === 'write') {
      const fd = (this as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      if (fd >= 0) {
        const got = readNow(fd);
        if (got !== null) unreadAtFailure.set(this, got);
      }
    }
    own.call(this, err, cb);
  };
}

/** What a non-blocking socket holds to read right now (up to UNREAD_MAX_BYTES); null for nothing. */
function readNow(fd: number): Buffer | null {
  const buf = Buffer.allocUnsafe(UNREAD_MAX_BYTES);
  let n = 0;
  try {
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r <= 0) break;
      n += r;
    }
  } catch { /* EAGAIN: nothing more; ECONNRESET: the reset, after what was buffered */ }
  return n === 0 ? null : Buffer.from(buf.subarray(0, n));
}

/** The bytes read back from `s` when a failed write destroyed it, once; null when none. */
export function takeUnread(s: net.Socket): Buffer | null {
  const b = unreadAtFailure.get(s) ?? null;
  if (b !== null) unreadAtFailure.delete(s);
  return b;
}

/**
 * Close a connected socket from openUpstreamSocket with a TCP RST: the peer sees the abort at once, the
 * kernel drops what it held to send. A TLS socket is destroyed once the reset is done, not at once: with
 * the TCP handle gone, destroying it frees its SSL on the spot, and done in the scope of the TLS layer's
 * own callback (a request failed from onConnect) that crashed the process (SIGSEGV).
 */
export function resetUpstreamSocket(s: net.Socket): void {
  const tcp = tcpUnder.get(s) ?? s;
  if (tcp.destroyed || tcp.connecting) s.destroy(); // nothing to reset (resetAndDestroy would wait for a connect)
  else {
    tcp.resetAndDestroy();
    if (tcp !== s) tcp.once('close', () => s.destroy());
  }
}
