// h1-socket.ts against a real TLS server: a TLS upstream connection reset (TCP RST under the TLS
// socket) from where the pool resets one — including code run in the scope of its handshake callback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { openUpstreamSocket, resetUpstreamSocket } from '../../../node/upstream/h1-socket.js';

let server: tls.Server;

beforeAll(async () => {
  const files = selfSignedCert();
  server = tls.createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (s) => {
    s.on('error', () => { /* reset by the client */ });
    s.resume();
  });
  server.on('tlsClientError', () => { /* reset before the upstream's side of the handshake was done */ });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});

afterAll(async () => { await new Promise((r) => server.close(r)); });

describe('resetUpstreamSocket on a TLS upstream socket', () => {
  // A request given up on at once when the connection is up (its body failed as it was being
  // written in onConnect…) reset the TCP socket and destroyed the TLS socket in the scope of the
  // handshake callback: the TLS socket's SSL was freed under TLSWrap, and the proxy died on SIGSEGV.
  it.each([
    ['in the handshake callback scope', (f: () => void) => queueMicrotask(f)],
    ['later, with an upload queued', (f: () => void) => setTimeout(f, 20)],
  ])('%s: the connection closes, the process goes on', async (_when, schedule) => {
    const { port } = server.address() as AddressInfo;
    const origin = { host: 'localhost', port, tls: true, servername: 'localhost', rejectUnauthorized: false };
    const s = openUpstreamSocket(origin, () => undefined, () => {
      s.write(Buffer.alloc(4 * 1024 * 1024));
      schedule(() => resetUpstreamSocket(s));
    });
    s.on('error', () => { /* the reset cancels the queued writes */ });
    await new Promise<void>((r) => s.on('close', () => r()));
    expect(s.destroyed).toBe(true);
  });
});
