// WebSockets through the shipped deploy/edge/nginx.conf as an operator runs it: a real nginx in front of
// a WebSocket echo app, asking one Portcullis on its decision unix socket. The judged handshake reaches
// the app as a handshake (101, messages both ways); an upgrade to anything else never does.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { freePort } from '../../helpers/nats.js';
import type { Nginx } from '../../helpers/nginx.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { DECISION, INTROSPECTION_SECRET, decisionPolicy, waitReady } from './decision-fixtures.js';
import { rawHead, rawHeadOf, startNginxEdge } from './edge-fixtures.js';

/** A WebSocket echo app: every handshake's headers recorded; plain requests answered 200. */
interface WsApp { readonly port: number; readonly handshakes: IncomingHttpHeaders[]; readonly plain: IncomingHttpHeaders[]; close(): Promise<void> }

async function startWsApp(): Promise<WsApp> {
  const handshakes: IncomingHttpHeaders[] = [];
  const plain: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => { plain.push(req.headers); res.writeHead(200, { 'content-type': 'text/plain' }).end('plain'); });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, sock, head) => {
    handshakes.push(req.headers);
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket') { sock.destroy(); return; }
    wss.handleUpgrade(req, sock, head, (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port, handshakes, plain,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); server.close(() => r()); server.closeAllConnections(); }),
  };
}

let as: AuthServer;
let app: WsApp;
let proxy: ProxyProcess;
let nginx: Nginx;
let edge: string;
let token: string;

beforeAll(async () => {
  [as, app] = await Promise.all([startAuthServer(), startWsApp()]);
  const socket = join(tempDir('portcullis-nginx-ws-'), 'decision.sock');
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { ...DECISION, unix_socket: { path: socket } } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...decisionPolicy(as, `http://127.0.0.1:${app.port}`),
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET } });
  await waitReady(proxy.adminUrl, ADMIN_TOKEN);
  const port = await freePort();
  nginx = await startNginxEdge(port, socket, app.port);
  edge = `http://127.0.0.1:${port}`;
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  await proxy?.stop();
  await Promise.all([as?.close(), app?.close()]);
});

/** Open a WebSocket through the edge: the echo of `text`, or the handshake's refusal status. */
function echoThrough(path: string, headers: Record<string, string>, text: string): Promise<{ echo?: string; status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${edge.replace('http', 'ws')}${path}`, { headers });
    ws.on('open', () => ws.send(text));
    ws.on('message', (m) => { ws.close(); resolve({ echo: String(m) }); });
    ws.on('unexpected-response', (_req, res) => { res.resume(); resolve({ status: res.statusCode }); });
    ws.on('error', reject);
  });
}

/** Everything the edge answers to `text` written as is, read until it closes (undici refuses an `Upgrade` header). */
function wholeAnswer(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(Number(new URL(edge).port), '127.0.0.1', () => sock.write(text));
    let buf = '';
    sock.on('data', (d: Buffer) => { buf += d.toString('latin1'); });
    sock.on('error', reject);
    sock.on('close', () => resolve(buf));
  });
}

describe('WebSockets through the shipped nginx.conf', () => {
  it('a judged WebSocket handshake on a websocket: true route reaches the app as a handshake: 101, messages both ways', async () => {
    // before: nginx.conf sent the app Connection "" and no Upgrade, the app saw a plain GET and the
    // client got its 200 instead of 101 (ws: "Unexpected server response: 200")
    const r = await echoThrough('/ws/chat', { authorization: `Bearer ${token}` }, 'hello');
    expect(r, nginx.errors()).toEqual({ echo: 'hello' });
    expect(app.handshakes.at(-1)).toMatchObject({ upgrade: 'websocket', 'x-auth-subject': 'alice' });
  });

  it('without a token the handshake is refused 401 and never reaches the app', async () => {
    const before = app.handshakes.length + app.plain.length;
    expect(await echoThrough('/ws/chat', {}, 'hello')).toEqual({ status: 401 });
    expect(app.handshakes.length + app.plain.length).toBe(before);
  });

  it('an Upgrade to another protocol (h2c) → 403 PORTCULLIS_ERR_DECISION_UPGRADE; the app never sees it', async () => {
    // the decision call carries the client's Upgrade, so Portcullis refuses what the app could tunnel
    const before = app.handshakes.length + app.plain.length;
    for (const path of ['/public/x', '/ws/x']) {
      const head = await rawHead(edge, path, { authorization: `Bearer ${token}`, connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' });
      expect(head.split('\r\n')[0], `${path}: ${head}`).toMatch(/^HTTP\/1\.1 403/);
    }
    // the client is told why (nginx's auth_request keeps no body: nginx.conf answers from X-Portcullis-Error)
    const whole = await wholeAnswer(`GET /public/x HTTP/1.1\r\nHost: ${new URL(edge).host}\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n`);
    expect(whole, whole).toMatch(/^HTTP\/1\.1 403[^]*"code":"PORTCULLIS_ERR_DECISION_UPGRADE"/);
    expect(app.handshakes.length + app.plain.length).toBe(before);
  });

  it('smuggling attempts: a WebSocket upgrade on a route without websocket: true (any case, without Connection: upgrade), two Upgrade lines — refused 403, or the app gets websocket alone', async () => {
    const host = new URL(edge).host;
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const before = app.handshakes.length + app.plain.length;
    for (const lines of [
      `Connection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}`,
      'Connection: close\r\nUpgrade: websocket', // no Connection: upgrade: nginx would still send the app a handshake's headers
      'Connection: upgrade, close\r\nUpgrade: h2c\r\nUpgrade: websocket',
    ]) {
      const whole = await rawHeadOf(edge, `GET /public/x HTTP/1.1\r\nHost: ${host}\r\n${lines}\r\n\r\n`);
      expect(whole.split('\r\n')[0], `${lines}: ${whole}`).toMatch(/^HTTP\/1\.1 403/);
    }
    // on the websocket route, h2c first: 403; websocket first: the app sees an upgrade to websocket alone
    const h2cFirst = await rawHeadOf(edge, `GET /ws/x HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: upgrade, close\r\nUpgrade: h2c\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    expect(h2cFirst.split('\r\n')[0], h2cFirst).toMatch(/^HTTP\/1\.1 403/);
    expect(app.handshakes.length + app.plain.length).toBe(before);
    const wsFirst = await rawHeadOf(edge, `GET /ws/x HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: upgrade, close\r\nUpgrade: websocket\r\nUpgrade: h2c\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    expect(wsFirst.split('\r\n')[0], wsFirst).toMatch(/^HTTP\/1\.1 101/); // nginx 1.22's $http_upgrade is the first line
    expect(app.handshakes.slice(before).map((h) => h.upgrade)).toEqual(['websocket']);
  });

  it('an HTTP/1.0 request without Host → 400 from the edge (a request to fix, not 503 "try later"); nothing forwarded', async () => {
    // before: nginx asked Portcullis with no Host at all, the call failed and the client got 503
    // "authorization service unavailable" with Retry-After: 1
    const before = app.handshakes.length + app.plain.length;
    for (const target of ['/public/x', 'http://admin.example/public/x']) {
      const head = await rawHeadOf(edge, `GET ${target} HTTP/1.0\r\n\r\n`);
      expect(head.split('\r\n')[0], `${target}: ${head}`).toMatch(/^HTTP\/1\.[01] 400/);
      expect(head.toLowerCase()).not.toContain('retry-after');
    }
    expect(app.handshakes.length + app.plain.length).toBe(before);
    // with its Host an HTTP/1.0 client is served
    const ok = await rawHeadOf(edge, `GET /public/x HTTP/1.0\r\nHost: ${new URL(edge).host}\r\n\r\n`);
    expect(ok.split('\r\n')[0], ok).toMatch(/^HTTP\/1\.[01] 200/);
  });
});
