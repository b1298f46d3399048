// Upstreams that drip-feed (node:net and node:http2 servers on 127.0.0.1, the proxy started by the
// CLI): the route's timeout_ms is a total bound on the response head — a head sent a header line at
// a time, endless 103 interim heads, an HTTP/2 upstream whose window stays shut on the request body,
// a WebSocket upgrade answered with a dripped 101 head all get 504 — while idle_body_ms bounds only the gaps in a body: a body dripped faster than it
// streams on until the client leaves, and the client leaving closes the upstream connection.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer as netServer, type Server, type Socket } from 'node:net';
import { createServer as h2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { handshake, wsUrl } from '../ws/ws-fixtures.js';

/** Upstream socket state by the first request line's path. */
const closed = new Map<string, boolean>();
let raw: Server;
let h2: Http2Server;
let proxy: ProxyProcess;

/** Write `next()` every 50 ms until the socket closes. */
function drip(s: Socket, next: () => string): void {
  const t = setInterval(() => { if (!s.destroyed) s.write(next()); }, 50);
  s.on('close', () => clearInterval(t));
}

beforeAll(async () => {
  raw = netServer((s) => {
    s.on('error', () => {});
    s.once('data', (d: Buffer) => {
      const path = /^[A-Z]+ (\S+)/.exec(d.toString('latin1'))?.[1] ?? '';
      closed.set(path, false);
      s.on('close', () => closed.set(path, true));
      if (path === '/head' || path.startsWith('/ws/')) {
        s.write(path === '/head' ? 'HTTP/1.1 200 OK\r\n' : 'HTTP/1.1 101 Switching Protocols\r\n');
        drip(s, () => 'X-A: b\r\n');
      } else if (path === '/interim') {
        drip(s, () => 'HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n');
      } else {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
        drip(s, () => '1\r\nx\r\n');
      }
    });
  });
  // never reads a request body: its flow-control window closes after 64 KiB, and it never answers
  h2 = h2Server();
  h2.on('stream', (st) => { st.pause(); });
  await Promise.all([
    new Promise<void>((r) => raw.listen(0, '127.0.0.1', r)),
    new Promise<void>((r) => h2.listen(0, '127.0.0.1', r)),
  ]);
  const rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  const h2Url = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  const timeouts = { response_ms: 10_000, idle_body_ms: 300 };
  proxy = await startProxy(baseConfig(rawUrl, {
    upstreams: {
      app: { targets: [rawUrl], timeouts },
      grpcish: { targets: [h2Url], protocol: 'h2c', timeouts },
    },
    routes: [
      { name: 'h2', match: { path: '/h2/*' }, upstream: 'grpcish', auth: 'none', timeout_ms: 400 },
      { name: 'ws', match: { path: '/ws/*' }, upstream: 'app', auth: 'none', timeout_ms: 400, websocket: true },
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none', timeout_ms: 400 },
    ],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  raw?.close();
  h2?.close();
});

async function status(path: string, body?: Buffer): Promise<{ status: number; code: unknown }> {
  const r = await request(`${proxy.url}${path}`, body === undefined ? {} : { method: 'POST', body });
  const text = await r.body.text();
  return { status: r.statusCode, code: (JSON.parse(text) as { code?: unknown }).code };
}

describe('upstream response head: a total deadline (timeout_ms)', () => {
  it('a head sent one header line every 50 ms → 504, upstream connection closed', async () => {
    expect(await status('/head')).toEqual({ status: 504, code: 'PORTCULLIS_ERR_UPSTREAM_TIMEOUT' });
    await waitFor('the upstream connection closed', () => closed.get('/head') === true);
  });

  it('103 Early Hints every 50 ms, never a final head → 504', async () => {
    expect(await status('/interim')).toEqual({ status: 504, code: 'PORTCULLIS_ERR_UPSTREAM_TIMEOUT' });
  });

  it('HTTP/2 upstream that never opens its window for the request body (4 MiB) → 504', async () => {
    expect(await status('/h2/upload', Buffer.alloc(4 * 1024 * 1024, 97))).toEqual({ status: 504, code: 'PORTCULLIS_ERR_UPSTREAM_TIMEOUT' });
  });

  it('a WebSocket upgrade whose 101 head drips → 504, upstream connection closed', async () => {
    const h = await handshake(wsUrl(proxy, '/ws/chat'));
    expect(h.kind === 'refused' ? h.status : h.kind).toBe(504);
    await waitFor('the upstream connection closed', () => closed.get('/ws/chat') === true);
  });
});

describe('upstream response body: an idle bound (idle_body_ms), not a total one', () => {
  it('a body dripped every 50 ms streams past timeout_ms and idle_body_ms; the client leaving closes the upstream connection', async () => {
    const ac = new AbortController();
    const r = await request(`${proxy.url}/body`, { signal: ac.signal });
    expect(r.statusCode).toBe(200);
    let bytes = 0;
    r.body.on('data', (c: Buffer) => { bytes += c.length; });
    r.body.on('error', () => {});
    // well past timeout_ms (400) and idle_body_ms (300): still streaming
    await waitFor('20 body bytes (1 s of dripping)', () => bytes >= 20, 5_000);
    expect(closed.get('/body')).toBe(false);
    ac.abort();
    await waitFor('the upstream connection closed after the client left', () => closed.get('/body') === true, 5_000);
  });
});
