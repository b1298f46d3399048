// Upstreams over HTTP/2 (`protocol: h2c` and `h2`) with a real node:http2 upstream: one session
// reused for many requests, a fresh session after GOAWAY, trailers passed through, an upstream
// RST_STREAM reaching the client with its code, large bodies both ways under flow control, TLS
// with ALPN h2, passive ejection of a dead target, and HTTP/1.1 clients of the main listener.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2, { type Http2SecureServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Fetch, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { deadPort } from '../../helpers/upstreams.js';
import { bearer, call, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

interface H2Upstream { port: number; sessions: number; alpn: string[]; close(): Promise<void> }

function handler(up: H2Upstream) {
  return (stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    const path = String(headers[':path']);
    stream.on('error', () => { /* resets the test causes */ });
    if (stream.session?.alpnProtocol !== undefined) up.alpn.push(stream.session.alpnProtocol);
    if (path === '/ok' || path === '/goaway') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-up': 'h2' });
      stream.end(`ok ${String(headers[':authority'])}`);
      if (path === '/goaway') stream.on('close', () => stream.session?.goaway());
    } else if (path === '/big') {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(5_000_000, 7));
    } else if (path === '/upload') {
      let n = 0;
      stream.on('data', (c: Buffer) => { n += c.length; });
      stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end(String(n)); });
    } else if (path === '/trailers') {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }));
      stream.end('body');
    } else if (path === '/trailers-announced') {
      // a known length and trailers announced in Trailer (RFC 9110 §6.6.2)
      stream.respond({ ':status': 200, 'content-length': '4', trailer: 'x-checksum' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'def456' }));
      stream.end('body');
    } else if (path === '/sized') {
      stream.respond({ ':status': 200, 'content-length': '5' });
      stream.end('sized');
    } else if (path === '/reset-head') {
      // reset before any response head: RST_STREAM REFUSED_STREAM is retried once, so use another code
      stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    } else if (path === '/reset-mid') {
      stream.respond({ ':status': 200 });
      stream.write('partial');
      // destroy(err) sends RST_STREAM INTERNAL_ERROR at once (close(code) would first end the stream cleanly)
      setTimeout(() => stream.destroy(new Error('upstream failed mid-body')), 50);
    } else {
      stream.respond({ ':status': 404 });
      stream.end();
    }
  };
}

async function startH2Upstream(tlsFiles?: { cert: string; key: string }): Promise<H2Upstream> {
  const server: Http2Server | Http2SecureServer = tlsFiles === undefined ? http2.createServer() : http2.createSecureServer({ cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) });
  const up: H2Upstream = { port: 0, sessions: 0, alpn: [], close: () => new Promise<void>((r) => { server.close(() => r()); }) };
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { up.sessions++; sessions.add(s); s.on('close', () => sessions.delete(s)); });
  server.on('stream', handler(up));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.port = (server.address() as AddressInfo).port;
  const close = up.close;
  up.close = async () => { for (const s of sessions) s.destroy(); await close(); };
  return up;
}

let plain: H2Upstream;
let secure: H2Upstream;
let proxy: ProxyProcess;
let origin: string;
let dead: number;

beforeAll(async () => {
  const tlsFiles = selfSignedCert();
  [plain, secure] = await Promise.all([startH2Upstream(), startH2Upstream(tlsFiles)]);
  dead = await deadPort();
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${plain.port}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    upstreams: {
      app: { targets: [`http://127.0.0.1:${plain.port}`], protocol: 'h2c', pool: { keep_alive_ms: 60_000 } },
      sec: { targets: [`https://localhost:${secure.port}`], protocol: 'h2' },
      flaky: { targets: [`http://127.0.0.1:${dead}`, `http://127.0.0.1:${plain.port}`], protocol: 'h2c', eject: { consecutive_failures: 2, duration_ms: 60_000 } },
    },
    routes: [
      { name: 'sec', match: { path: '/sec/*' }, upstream: 'sec', auth: 'none', strip_prefix: '/sec' },
      { name: 'flaky', match: { path: '/flaky/*' }, upstream: 'flaky', auth: 'none', strip_prefix: '/flaky' },
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: { ...ADMIN_ENV, NODE_EXTRA_CA_CERTS: tlsFiles.cert } });
  await waitReady(proxy);
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([plain?.close(), secure?.close()]);
});

describe('HTTP/2 upstreams', () => {
  it('one upstream session carries many requests (keep-alive); GOAWAY makes the next request open a fresh one', async () => {
    const s = await h2Connect(origin);
    const before = plain.sessions;
    const rs = await Promise.all(Array.from({ length: 20 }, () => h2Request(s, { ':method': 'GET', ':path': '/ok' })));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(rs[0]!.headers['x-up']).toBe('h2');
    expect(plain.sessions - before).toBeLessThanOrEqual(1);
    const g = await h2Request(s, { ':method': 'GET', ':path': '/goaway' });
    expect(g.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    const after = await h2Request(s, { ':method': 'GET', ':path': '/ok' });
    expect(after.status, after.text).toBe(200);
    expect(plain.sessions).toBeGreaterThan(before);
    s.close();
  });

  it('trailers from the upstream reach an HTTP/2 client', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/trailers' });
    expect(r.text).toBe('body');
    expect(r.trailers['x-checksum']).toBe('abc123');
  });

  it('trailers announced (Trailer) on a response of known length reach an HTTP/2 client; one without gets its body and a clean end', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/trailers-announced' });
    expect(r.text).toBe('body');
    expect(r.trailers['x-checksum']).toBe('def456');
    const plain = await h2Fetch(origin, { ':method': 'GET', ':path': '/sized' });
    expect(plain.status).toBe(200);
    expect(plain.text).toBe('sized');
    expect(plain.rstCode ?? 0).toBe(0);
  });

  it('an upstream RST_STREAM mid-body reaches the client as RST_STREAM with the same code', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/reset-mid' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('partial');
    expect(r.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
  });

  it('HTTP/2 failures carry HTTP/2 codes: a reset before the head → 502 PORTCULLIS_ERR_H2_UPSTREAM_RESET; both resets logged and counted as h2_stream_reset', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/reset-head' });
    expect(r.status).toBe(502);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_H2_UPSTREAM_RESET' });
    expect(String(r.json?.message)).toContain(`error code ${http2.constants.NGHTTP2_ENHANCE_YOUR_CALM}`);
    const mid = await h2Fetch(origin, { ':method': 'GET', ':path': '/reset-mid' });
    expect(mid.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    const line = (path: string) => proxy.logs().find((l) => l.msg === 'request' && l.path === path);
    // the access lines come over the proxy's stdout, after the answers
    await waitFor("line('/reset-head') !== undefined && line('/reset-mid') !== undefined", () => line('/reset-head') !== undefined && line('/reset-mid') !== undefined, 10_000);
    expect(line('/reset-head')).toMatchObject({ status: 502, reason: 'upstream_h2_stream_reset' });
    expect(line('/reset-mid')).toMatchObject({ outcome: 'truncated', reason: 'upstream_h2_stream_reset' });
    const m = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const counted = /portcullis_upstream_errors_total\{upstream="app",kind="h2_stream_reset"\} (\d+)/.exec(await m.body.text());
    expect(Number(counted?.[1])).toBeGreaterThanOrEqual(2);
  });

  it('large bodies both ways arrive whole (flow control end to end)', async () => {
    const big = await h2Fetch(origin, { ':method': 'GET', ':path': '/big' });
    expect(big.body.length).toBe(5_000_000);
    const up = await h2Fetch(origin, { ':method': 'POST', ':path': '/upload' }, Buffer.alloc(3_000_000, 1));
    expect(up.text).toBe('3000000');
  });

  it('protocol h2: HTTP/2 over TLS, negotiated by ALPN h2 with the target', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/sec/ok' });
    expect(r.status, r.text).toBe(200);
    expect(secure.alpn).toContain('h2');
  });

  it('a dead target is ejected after its failures; requests retry on the live one', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/flaky/ok' });
      expect(r.status, r.text).toBe(200);
    }
    const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
    expect(m.text).toMatch(/portcullis_upstream_ejections_total\{upstream="flaky"\} 1/);
  });

  it('HTTP/1.1 clients of the main (uWS) listener reach an h2c upstream too', async () => {
    const r = await request(`${proxy.url}/ok`);
    expect(r.statusCode).toBe(200);
    expect(await r.body.text()).toMatch(/^ok /);
  });
});
