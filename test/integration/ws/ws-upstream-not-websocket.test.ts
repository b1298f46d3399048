// An upstream that completes the WebSocket handshake (a valid 101) and then speaks something else
// (an HTTP/2 preface, an HTTP request: a tunnel attempt): nothing of it reaches the client, and the
// client is closed with 1014 as soon as the proxy's ws client refuses the bytes — not 30 s later,
// when `ws` gives up waiting for the upstream's answer to its own close frame (before this fix the
// client sat on an open, silent socket for those 30 s). And passive ejection: a target answering 503 to
// every upgrade counts toward eject.consecutive_5xx, one resetting every upgrade toward consecutive_failures.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startProxy, baseConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { handshake, open, wsUrl } from './ws-fixtures.js';

let upstream: Server;
/** Answers 503 to every upgrade; beside it `echo` completes them. */
let sick: Server;
/** Resets every upgrade before any answer. */
let resetter: Server;
let echo: WsEchoUpstream;
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
  sick = createServer((_req, res) => { res.end('plain'); });
  sick.on('upgrade', (_req, socket: Socket) => { socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'); });
  await new Promise<void>((r) => sick.listen(0, '127.0.0.1', r));
  resetter = createServer((_req, res) => { res.end('plain'); });
  resetter.on('upgrade', (_req, socket: Socket) => { socket.resetAndDestroy(); });
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
  echo = await startWsEchoUpstream();
  const origin = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  proxy = await startProxy(baseConfig(origin(upstream), {
    upstreams: { app: { targets: [origin(upstream)] }, pair: { targets: [origin(sick), echo.url], eject: { consecutive_5xx: 2, duration_ms: 60_000 } },
      resetting: { targets: [origin(resetter), echo.url], eject: { consecutive_failures: 2, duration_ms: 60_000 } } },
    routes: [
      { name: 'chat', match: { path: '/ws/*' }, upstream: 'app', auth: 'none', websocket: true },
      { name: 'pair', match: { path: '/pair/*' }, upstream: 'pair', auth: 'none', websocket: true },
      { name: 'resetting', match: { path: '/resetting/*' }, upstream: 'resetting', auth: 'none', websocket: true },
    ],
  }));
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of sockets) s.socket.destroy();
  await new Promise<void>((r) => { upstream?.close(() => r()); upstream?.closeAllConnections(); });
  await new Promise<void>((r) => { sick?.close(() => r()); sick?.closeAllConnections(); });
  await new Promise<void>((r) => { resetter?.close(() => r()); resetter?.closeAllConnections(); });
  await echo?.close();
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

/** Eight handshakes in a row on `prefix`: whether each opened. */
async function eightHandshakes(prefix: string): Promise<boolean[]> {
  const opened: boolean[] = [];
  for (let i = 0; i < 8; i++) {
    const h = await handshake(wsUrl(proxy, `${prefix}/${i}`));
    opened.push(h.kind === 'open');
    if (h.kind === 'open') { h.client.ws.close(); await h.client.closed; }
  }
  return opened;
}

describe('passive ejection of a WebSocket target (beside one that completes every handshake)', () => {
  it('answering 503 to every upgrade, with eject.consecutive_5xx: 2: out after its second 503 (before: every other handshake refused for good)', async () => {
    const opened = await eightHandshakes('/pair');
    // round robin: the sick target's two 503s among the first four, then only the echo target
    expect(opened.slice(0, 4).filter((o) => !o)).toHaveLength(2);
    expect(opened.slice(4)).toEqual([true, true, true, true]);
  });

  it('resetting every upgrade before any answer, with consecutive_failures: 2: out after its second reset (before: never)', async () => {
    const opened = await eightHandshakes('/resetting');
    expect(opened.slice(0, 4).filter((o) => !o)).toHaveLength(2);
    expect(opened.slice(4)).toEqual([true, true, true, true]);
  });
});
