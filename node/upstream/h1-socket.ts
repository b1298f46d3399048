// Opening one upstream socket (net or tls) with TCP_NODELAY and TCP keep-alive, each set once: what a
// connection (h1-connection.ts) reads from and writes to.
import net from 'node:net';
import tls from 'node:tls';
import { sharedRead } from './h1-shared-read.js';

/** Where a connection goes: host, port and TLS settings of one origin. */
export interface H1Origin { host: string; port: number; tls: boolean; servername: string | undefined; rejectUnauthorized: boolean }

/** TCP keep-alive probes start after 60 s without traffic on an upstream socket. */
const TCP_KEEPALIVE_MS = 60_000;

/**
 * Connect to `o`: `onConnect` once the socket can carry a request (the TLS handshake done), every
 * chunk read to `onData`. Errors and close are the caller's to listen for. setNoDelay/setKeepAlive
 * on a socket still connecting set each option twice (now and again at the connect: 10 setsockopt
 * instead of 5 per connection), so plain sockets take them as connect options and TLS ones (whose
 * connect ignores those options) set them in the first 'connect' listener, before the ClientHello.
 */
export function openUpstreamSocket(o: H1Origin, onData: (chunk: Buffer) => void, onConnect: () => void): net.Socket {
  if (o.tls) {
    const t = tls.connect({ host: o.host, port: o.port, servername: o.servername, rejectUnauthorized: o.rejectUnauthorized, ALPNProtocols: ['http/1.1'] });
    t.prependOnceListener('connect', () => t.setNoDelay(true).setKeepAlive(true, TCP_KEEPALIVE_MS));
    t.on('secureConnect', onConnect);
    t.on('data', onData);
    return t;
  }
  const s = net.connect({ host: o.host, port: o.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_MS, onread: sharedRead(onData) });
  s.on('connect', onConnect);
  return s;
}
