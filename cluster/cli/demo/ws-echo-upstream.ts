// A WebSocket echo upstream (the `ws` library's server on node:http) for dev mode, tests and
// the websocket-relay bench, with scripted paths for the failure cases. Run alone with
// `node dist/cluster/cli/demo/ws-echo-upstream.js [--port N]` (prints {"port":N}).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';

/** One upgrade request as the upstream saw it. */
export interface SeenHandshake {
  url: string;
  headers: IncomingHttpHeaders;
  /** Subprotocols offered, in order. */
  protocols: string[];
  /** Subprotocol selected (first offered), '' when none. */
  selected: string;
}

export interface WsEchoUpstream {
  url: string; // http://127.0.0.1:PORT (a route's upstream target)
  port: number;
  readonly handshakes: SeenHandshake[];
  /** Connections open now. */
  readonly open: number;
  /** Close codes and reasons received from the proxy, in order. */
  readonly closes: Array<{ code: number; reason: string; url: string }>;
  close(): Promise<void>;
}

/**
 * Paths (matched at the end, so a route prefix still reaches them):
 * - anything else: echo each message back with its type;
 * - `/headers`: first sends `{"headers":…, "protocol":…}` then echoes;
 * - `/close/<code>`: on the first message closes with `<code>` and reason `bye`;
 * - `/destroy`: on the first message drops the TCP connection (no close frame);
 * - `/flood/<count>/<bytes>`: sends `count` binary messages of `bytes` (first 4 bytes = index,
 *   big-endian) as fast as its own socket drains, then text `done`;
 * - `/stall`: never reads what the client sends;
 * - `/refuse`: answers the upgrade with 403; `/hang`: never answers it;
 * - `/no-protocol`: selects no subprotocol, whatever was offered; `/wrong-protocol`: selects
 *   `not-offered` (a server breaking RFC 6455 §4.2.2).
 * Plain (non-upgrade) requests get `200 {"upstream":name,"path":…}`.
 */
export async function startWsEchoUpstream(opts: { port?: number; host?: string; name?: string } = {}): Promise<WsEchoUpstream> {
  const name = opts.name ?? 'ws-echo';
  const host = opts.host ?? '127.0.0.1';
  const handshakes: SeenHandshake[] = [];
  const closes: Array<{ code: number; reason: string; url: string }> = [];
  const sockets = new Set<Socket>();
  let open = 0;
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name, path: req.url }));
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 256 * 1024 * 1024,
    handleProtocols: (offered, req) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path.endsWith('/no-protocol')) return false;
      if (path.endsWith('/wrong-protocol')) return 'not-offered';
      return [...offered][0] ?? false;
    },
  });
  server.on('upgrade', (req, socket, head) => {
    const url = req.url ?? '/';
    if (url.endsWith('/hang')) return; // keep the socket, never answer
    if (url.endsWith('/refuse')) { socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'); return; }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    wss.handleUpgrade(req, socket, head, (ws) => {
      handshakes.push({ url, headers: req.headers, protocols: offered, selected: ws.protocol });
      open++;
      ws.on('close', (code, reason) => { open--; closes.push({ code, reason: reason.toString(), url }); });
      serve(ws, url, req.headers);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`, port, handshakes, closes,
    get open() { return open; },
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
      wss.close();
      server.close(() => resolve());
    }),
  };
}

function serve(ws: WebSocket, url: string, headers: IncomingHttpHeaders): void {
  ws.on('error', () => { /* reported by close */ });
  const path = url.split('?')[0]!;
  const closeAt = /\/close\/(\d{4})$/.exec(path);
  const flood = /\/flood\/(\d+)\/(\d+)$/.exec(path);
  if (path.endsWith('/stall')) {
    (ws as unknown as { _socket: Socket })._socket.pause();
    return;
  }
  if (flood !== null) { void floodOut(ws, Number(flood[1]), Number(flood[2])); return; }
  if (path.endsWith('/headers')) ws.send(JSON.stringify({ headers, protocol: ws.protocol }));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (closeAt !== null) { ws.close(Number(closeAt[1]), 'bye'); return; }
    if (path.endsWith('/destroy')) { (ws as unknown as { _socket: Socket })._socket.destroy(); return; }
    ws.send(data, { binary: isBinary });
  });
}

/** Send `count` messages as fast as the socket drains (so the upstream itself never buffers much). */
async function floodOut(ws: WebSocket, count: number, bytes: number): Promise<void> {
  const sock = (ws as unknown as { _socket: Socket })._socket;
  for (let i = 0; i < count && ws.readyState === ws.OPEN; i++) {
    const m = Buffer.alloc(Math.max(4, bytes), i & 0xff);
    m.writeUInt32BE(i, 0);
    ws.send(m, { binary: true });
    if (ws.bufferedAmount > 1024 * 1024) {
      await new Promise<void>((r) => {
        const done = (): void => { sock.off('drain', done); sock.off('close', done); r(); };
        sock.on('drain', done);
        sock.on('close', done);
      });
    }
  }
  if (ws.readyState === ws.OPEN) ws.send('done');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } }, strict: true });
  const up = await startWsEchoUpstream({ port: Number(values.port ?? 0), host: values.host ?? '127.0.0.1' });
  process.stdout.write(JSON.stringify({ port: up.port }) + '\n');
  const stop = (): void => { void up.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ws-echo-upstream: ${String(err)}\n`);
    process.exit(1);
  });
}
