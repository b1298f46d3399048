// Liveness of the upstream hop. uWS pings the client every idle_timeout_s, so a live client keeps
// its socket open; the upstream hop was never checked, so an upstream that stopped answering
// (crashed host, dropped route: no FIN ever arrives) kept the bridge, its client and its token's
// socket open for as long as the client lived. The proxy now pings a quiet upstream and closes both
// hops (client 1014) when no answer came within an idle period; a quiet upstream that answers pings stays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { open, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let dead: Server;
let quiet: WebSocketServer;
let proxy: ProxyProcess;
/** The dead upstream's side of each upgraded connection. */
const deadSockets: Array<{ socket: Socket; closed: boolean }> = [];

beforeAll(async () => {
  // completes the handshake, then never sends a byte again (never answers a ping or a close frame)
  dead = createServer((_req, res) => { res.end('plain'); });
  dead.on('upgrade', (req, socket: Socket) => {
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const s = { socket, closed: false };
    deadSockets.push(s);
    socket.on('data', () => { /* swallowed */ });
    // the http server's sockets allow half-open: the proxy's FIN is 'end' (then we close our side)
    socket.on('end', () => { s.closed = true; socket.destroy(); });
    socket.on('close', () => { s.closed = true; });
    socket.on('error', () => { /* reported by close */ });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  });
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  // a quiet but healthy upstream: echoes, answers pings (ws does that by itself), sends nothing unasked
  quiet = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  quiet.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
  await new Promise<void>((r) => quiet.once('listening', () => r()));
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${(dead.address() as AddressInfo).port}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, websocket: { idle_timeout_s: 8 } },
    upstreams: {
      app: { targets: [`http://127.0.0.1:${(dead.address() as AddressInfo).port}`] },
      quiet: { targets: [`http://127.0.0.1:${(quiet.address() as AddressInfo).port}`] },
    },
    routes: [
      { name: 'dead', match: { path: '/dead/*' }, upstream: 'app', auth: 'none', websocket: true },
      { name: 'quiet', match: { path: '/quiet/*' }, upstream: 'quiet', auth: 'none', websocket: true },
    ],
  }));
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of deadSockets) s.socket.destroy();
  await new Promise<void>((r) => { dead?.close(() => r()); dead?.closeAllConnections(); });
  for (const c of quiet?.clients ?? []) c.terminate();
  await new Promise<void>((r) => (quiet ? quiet.close(() => r()) : r()));
});

describe('an upstream that stops answering after its 101', () => {
  // idle_timeout_s 8: the dead upstream is pinged after one quiet period and given up after the next
  // (about 12–16 s); 40 s is a budget for a loaded machine, not a speed check
  it('closes the client with 1014 and drops the upstream connection; a quiet upstream that answers pings stays', async () => {
    const [d, q] = await Promise.all([open(wsUrl(proxy, '/dead/1')), open(wsUrl(proxy, '/quiet/1'))]);
    const closed = await d.waitClosed(40_000);
    expect(closed).toMatchObject({ code: 1014, reason: 'upstream did not answer a ping' });
    await waitFor('deadSockets[0]?.closed === true', () => deadSockets[0]?.closed === true, 10_000); // the upstream's socket closes after the client hears 1014
    expect(deadSockets.length).toBe(1);
    expect(deadSockets[0]!.closed).toBe(true);
    // the quiet one lived through the same quiet periods
    expect(q.closedWith).toBeNull();
    expect((await q.roundTrip('still here')).data.toString()).toBe('still here');
    q.ws.close();
    await q.waitClosed();
  }, 60_000);
});
