// Opening one upstream socket (net or tls) with TCP_NODELAY and TCP keep-alive, each set once, and
// resetting it: what a connection (h1-connection.ts) reads from and writes to.
import net from 'node:net';
import tls from 'node:tls';
import { sharedRead } from './h1-shared-read.js';

/** Where a connection goes: host, port and TLS settings of one origin. */
export interface H1Origin { host: string; port: number; tls: boolean; servername: string | undefined; rejectUnauthorized: boolean }

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
  return s;
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
