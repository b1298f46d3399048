// HTTP/1.1 on the HTTP/2 listener's TLS port honours server.limits.max_header_bytes, at start and after
// a reload: node:http's own head limit (16 KiB by default) is raised above the proxy's checks, so a head
// the limits allow is served and one over them gets the proxy's logged 431. Before, any head over
// 16 KiB got node:http's bare 431 — no JSON body, no access-log line — whatever max_header_bytes said.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';

/** An upstream that takes heads up to 256 KiB (node:http's default, 16 KiB, would refuse them itself). */
let upstream: http.Server;
let upstreamUrl = '';
const received: string[] = [];
let proxy: ProxyProcess;
let port = 0;
let tls: { cert: string; key: string };

const config = (maxHeaderBytes: number): Record<string, unknown> => baseConfig(upstreamUrl, {
  server: {
    listen: { host: '127.0.0.1', port: 0 }, limits: { max_header_bytes: maxHeaderBytes },
    http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: tls.cert, key_file: tls.key } },
  },
  routes: [{ name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' }],
});

beforeAll(async () => {
  upstream = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    received.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, bigBytes: String(req.headers['x-big'] ?? '').length }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  tls = selfSignedCert();
  proxy = await startProxy(config(4096), { env: ADMIN_ENV });
  port = http2PortOf(proxy.logs());
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.closeAllConnections();
  await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
});

/** GET over HTTP/1.1 (ALPN) on the TLS port with one header of `n` bytes. */
function get(path: string, n: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, headers: { 'x-big': 'b'.repeat(n), connection: 'close' }, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as https.RequestOptions, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

async function accessLine(path: string): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 40; i++) {
    const line = proxy.logs().find((l) => l.msg === 'request' && l.path === path);
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

describe('max_header_bytes on HTTP/1.1 over the TLS port', () => {
  it('a reload to 64 KiB serves a 20 KiB head; a head over it is the proxy\'s 431, logged; nothing of it forwarded', async () => {
    expect((await get('/public/small-limit', 20_000)).status).toBe(431);
    await reloadWith(proxy, config(64 * 1024));
    const ok = await get('/public/twenty', 20_000);
    expect(ok.status, ok.body).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ url: '/public/twenty', bigBytes: 20_000 });
    const before = received.length;
    const big = await get('/public/seventy', 70_000);
    expect(big.status).toBe(431);
    expect(JSON.parse(big.body)).toMatchObject({ code: 'PORTCULLIS_ERR_HEADERS_TOO_LARGE' });
    expect(received.length, 'the refused request reached the upstream').toBe(before);
    expect(await accessLine('/public/seventy')).toMatchObject({ status: 431, reason: 'headers_too_large', protocol: 'http/1.1' });
  });
});
