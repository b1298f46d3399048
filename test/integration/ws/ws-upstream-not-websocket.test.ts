// An upstream that completes the WebSocket handshake (a valid 101) and then speaks something else
// (an HTTP/2 preface, an HTTP request: a tunnel attempt): nothing of it reaches the client, and the
// client is closed with 1014 as soon as the proxy's ws client refuses the bytes — not 30 s later,
// when `ws` gives up waiting for the upstream's answer to its own close frame (before this fix the
// client sat on an open, silent socket for those 30 s).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startProxy, baseConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { open, wsUrl } from './ws-fixtures.js';

let upstream: Server;
let proxy: ProxyProcess;
/** The upstream's side of each upgraded connection and what the proxy sent on it. */
const sockets: Array<{ socket: Socket; received: Buffer[] }> = [];

beforeAll(async () => {
  upstream = createServer((_req, res) => { res.end('plain'); });
  upstream.on('upgrade', (req, socket: Socket) => {
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const s = { socket, received: [] as Buffer[] };
    sockets.push(s);
    socket.on('data', (d: Buffer) => s.received.push(d));
    socket.on('error', () => { /* reported by close */ });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    // after the handshake: no frame, an HTTP/2 preface and a request line (it never answers a close frame)
    setTimeout(() => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /internal HTTP/1.1\r\n\r\n'), 100);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, {
    routes: [{ name: 'chat', match: { path: '/ws/*' }, upstream: 'app', auth: 'none', websocket: true }],
  }));
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of sockets) s.socket.destroy();
  await new Promise<void>((r) => { upstream?.close(() => r()); upstream?.closeAllConnections(); });
});

describe('an upstream that is not speaking WebSocket after its 101', () => {
  // The upstream never answers the proxy's close frame and never closes its side, so before the fix
  // the client's close came only from ws's 30 s close timeout, which starts after this test does:
  // past this test's own 25 s timeout (a budget 80x what the answer takes, not a speed check).
  it('the client gets no message and close 1014 at once, not after the upstream\'s close handshake; a close frame went upstream', async () => {
    const c = await open(wsUrl(proxy, '/ws/x'));
    const closed = await c.closed;
    expect(c.messages).toEqual([]);
    expect(closed.code).toBe(1014);
    expect(closed.reason).toBe('upstream connection failed');
    expect(sockets).toHaveLength(1);
    const fromProxy = Buffer.concat(sockets[0]!.received);
    expect(fromProxy[0], 'a close frame (FIN + opcode 8) went to the upstream').toBe(0x88);
    // a client frame is masked: 2 header bytes (MASK bit set), 4 mask bytes, then the status code
    const code = ((fromProxy[6]! ^ fromProxy[2]!) << 8) | (fromProxy[7]! ^ fromProxy[3]!);
    expect(code, 'with 1002 protocol error').toBe(1002);
  }, 25_000);
});
