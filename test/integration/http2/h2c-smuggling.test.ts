// h2c smuggling (Bishop Fox h2csmuggler): an HTTP/1.1 request with `Upgrade: h2c`, `HTTP2-Settings`
// and `Connection: Upgrade, HTTP2-Settings` asks the upstream to turn the connection into HTTP/2;
// a proxy that forwards the upgrade and relays the 101 becomes a raw tunnel in which later requests
// are never judged. Against an upstream that accepts h2c (101, then bytes of its own), on every
// door — the main (uWS) listener, HTTP/1.1 on the HTTP/2 listener's TLS port, h2c — the upgrade
// never reaches it, and a 101 it sends unasked is a 502 whose tunnel bytes never reach the client.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { startProxy, baseConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';

const SMUGGLE = 'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\n';
const TUNNEL = 'TUNNEL-BYTES-FROM-UPSTREAM';

let upstream: Server;
/** Requests the upstream served as plain HTTP, with the headers it saw. */
const plain: Array<{ url: string; headers: Record<string, unknown> }> = [];
/** Upgrades the upstream accepted (it answers every one 101 and then speaks its own bytes). */
const upgrades: string[] = [];
/** Bytes the upstream received on an upgraded connection (a request sent through a tunnel). */
const tunnelled: string[] = [];
let h2cProxy: ProxyProcess;
let tlsProxy: ProxyProcess;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    if (req.url === '/public/unasked-101') {
      // 101 without being asked, then bytes no HTTP/1.1 response parser should pass on
      res.socket!.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n${TUNNEL}`);
      return;
    }
    plain.push({ url: req.url ?? '', headers: req.headers });
    res.end('plain');
  });
  upstream.on('upgrade', (req, socket) => {
    upgrades.push(req.url ?? '');
    socket.on('data', (d: Buffer) => tunnelled.push(d.toString('latin1')));
    socket.on('error', () => { /* the proxy may close */ });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n${TUNNEL}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const routes = [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }, { name: 'ws', match: { path: '/ws/*' }, upstream: 'app', auth: 'none', websocket: true }];
  const { cert, key } = selfSignedCert();
  [h2cProxy, tlsProxy] = await Promise.all([
    startProxy(baseConfig(url, { server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } }, routes })),
    startProxy(baseConfig(url, { server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key } } }, routes })),
  ]);
});

afterAll(async () => {
  await Promise.all([h2cProxy?.stop(), tlsProxy?.stop()]);
  await new Promise<void>((r) => { upstream?.close(() => r()); upstream?.closeAllConnections(); });
});

/** HTTP/1.1 over TLS (ALPN http/1.1) to the HTTP/2 listener: everything received until close or `ms`. */
function tlsRaw(port: number, text: string, ms = 3_000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(text));
    const t = setTimeout(() => { s.destroy(); resolve(out); }, ms);
    s.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(t); resolve(out); });
    s.on('error', () => { /* reported by close */ });
  });
}

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${SMUGGLE}\r\n`;
/** A second request (HTTP/2 preface + an h1 request line) the client writes after the first, as h2csmuggler does once it thinks it has a tunnel. */
const FOLLOW_UP = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /internal/admin HTTP/1.1\r\nHost: localhost\r\n\r\n';

describe('h2c smuggling', () => {
  it('main listener: the upgrade is removed, the request served plain (200), later bytes never tunnel; also on a websocket: true route', async () => {
    for (const path of ['/public/smuggle', '/ws/smuggle']) {
      const before = plain.length;
      const r = await rawRequest(h2cProxy.port, [request(path), FOLLOW_UP], { gapMs: 100, waitClose: true, timeoutMs: 3_000 });
      expect(r.status, r.raw).toBe(200);
      expect(r.raw).not.toContain('101 Switching');
      expect(r.raw).not.toContain(TUNNEL);
      expect(plain.length, path).toBe(before + 1);
      for (const h of ['upgrade', 'http2-settings', 'connection']) expect(plain.at(-1)!.headers[h], `${path}: ${h}`).toBeUndefined();
    }
    expect(upgrades).toEqual([]);
    expect(tunnelled).toEqual([]);
    expect(plain.map((p) => p.url)).not.toContain('/internal/admin');
  });

  it('HTTP/1.1 on the TLS port: the same — served plain, no 101, no tunnel', async () => {
    const before = plain.length;
    const out = await tlsRaw(http2PortOf(tlsProxy.logs()), `${request('/public/smuggle-tls')}`);
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(out).not.toContain(TUNNEL);
    expect(plain.length).toBe(before + 1);
    for (const h of ['upgrade', 'http2-settings', 'connection']) expect(plain.at(-1)!.headers[h], h).toBeUndefined();
    expect(upgrades).toEqual([]);
  });

  it('an upstream that answers 101 unasked: 502 on every door, its tunnel bytes never reach the client', async () => {
    const main = await rawRequest(h2cProxy.port, 'GET /public/unasked-101 HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(main.status, main.raw).toBe(502);
    expect(main.raw).not.toContain(TUNNEL);
    const overTls = await tlsRaw(http2PortOf(tlsProxy.logs()), 'GET /public/unasked-101 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(overTls).toMatch(/^HTTP\/1\.1 502 /);
    expect(overTls).not.toContain(TUNNEL);
    for (const origin of [`http://127.0.0.1:${http2PortOf(h2cProxy.logs())}`, `https://127.0.0.1:${http2PortOf(tlsProxy.logs())}`]) {
      const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/public/unasked-101' });
      expect(r.status, `${origin} ${r.text}`).toBe(502);
      expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE' });
      expect(r.text).not.toContain(TUNNEL);
    }
    expect(upgrades).toEqual([]);
  });
});
