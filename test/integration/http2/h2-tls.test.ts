// The HTTP/2 listener with TLS: h2 chosen by ALPN, and HTTP/1.1 clients (ALPN http/1.1, or no
// ALPN) served on the same port through the same pipeline; X-Forwarded-Proto https upstream.
// A certificate renewed under the same file names is served after a reload, and by itself with --watch.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { parse } from 'yaml';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { asIssuer, bearer, call, parseChallenge, waitReady } from '../auth/tokens-helpers.js';
import { startOrdersDoor, type OrdersDoor } from './h2-orders-door.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;
let door: OrdersDoor;

beforeAll(async () => {
  door = await startOrdersDoor({ tls: true });
  ({ as, echo, proxy, port } = door);
});

afterAll(() => door?.stop());

/** An HTTP/1.1 request over TLS (ALPN offers only http/1.1, or nothing). */
function h1(path: string, headers: Record<string, string>, alpn: string[] | undefined): Promise<{ status: number; headers: Record<string, unknown>; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false, ...(alpn !== undefined ? { ALPNProtocols: alpn } : {}), agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol ?? null }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('h2 and HTTP/1.1 on one TLS port', () => {
  it('an h2 client negotiates h2 and is proxied with X-Forwarded-Proto https', async () => {
    const token = await as.issueJwt({ sub: 'carol' });
    const r = await h2Fetch(`https://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/orders/1', ...bearer(token) });
    expect(r.status, r.text).toBe(200);
    const seen = r.json as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-auth-subject']).toBe('carol');
  });

  it('an HTTP/1.1 client (ALPN http/1.1, and no ALPN at all) gets the same answers on the same port', async () => {
    for (const alpn of [['http/1.1'], undefined]) {
      const denied = await h1('/orders/1', {}, alpn);
      expect(denied.status).toBe(401);
      expect(parseChallenge(String(denied.headers['www-authenticate'])).params).toEqual({ realm: 'portcullis' });
      const ok = await h1('/orders/1', bearer(await as.issueJwt({ sub: 'dave' })), alpn);
      expect(ok.status, ok.body).toBe(200);
      expect(JSON.parse(ok.body).headers['x-auth-subject']).toBe('dave');
      if (alpn !== undefined) expect(ok.alpn).toBe('http/1.1');
    }
  });

  it('HTTP/1.1 on the TLS port without Host → 400 (RFC 9112 §3.2), HTTP/1.0 without Host is read; a header name with _ → 400; nothing forwarded', async () => {
    const raw = (text: string): Promise<string> => new Promise((resolve) => {
      let out = '';
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(text));
      s.on('data', (d: Buffer) => { out += d.toString('latin1'); if (out.includes('\r\n\r\n')) s.destroy(); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    const before = echo.requests;
    const noHost = await raw('GET /orders/1 HTTP/1.1\r\nAccept: */*\r\n\r\n');
    expect(noHost).toMatch(/^HTTP\/1\.1 400 /);
    expect(noHost).toContain('PORTCULLIS_ERR_REQUEST_MALFORMED');
    expect(await raw('GET /orders/1 HTTP/1.0\r\nAccept: */*\r\n\r\n')).toMatch(/^HTTP\/1\.[01] 401 /);
    expect(await raw('GET /orders/1 HTTP/1.1\r\nHost: x\r\nX_Auth_Subject: evil\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(echo.requests).toBe(before);
  });

  it('HTTP/1.1 on the TLS port: CONNECT (any target) → 405 PORTCULLIS_ERR_CONNECT_REFUSED and closed; an Upgrade (h2c, websocket) is served as a plain request without it; nothing tunnels', async () => {
    const raw = (text: string): Promise<{ out: string; closed: boolean }> => new Promise((resolve) => {
      let out = '';
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(text));
      const t = setTimeout(() => { s.destroy(); resolve({ out, closed: false }); }, 3_000);
      s.on('data', (d: Buffer) => { out += d.toString('latin1'); });
      s.on('close', () => { clearTimeout(t); resolve({ out, closed: true }); });
      s.on('error', () => { /* reported by close */ });
    });
    const before = echo.requests;
    // before: closed without a word (node:http with no 'connect' listener), which a client cannot tell from a crash
    for (const line of ['CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n', 'CONNECT /orders/1 HTTP/1.1\r\nHost: x\r\n\r\nSSH-2.0-probe\r\n']) {
      const r = await raw(line);
      expect(r.closed, line).toBe(true);
      expect(r.out, line).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
      expect(r.out.toLowerCase(), line).toContain('connection: close');
      expect(JSON.parse(r.out.slice(r.out.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'PORTCULLIS_ERR_CONNECT_REFUSED' });
    }
    expect(echo.requests).toBe(before);
    const token = await as.issueJwt({ sub: 'erin' });
    for (const upgrade of ['Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']) {
      const { out } = await raw(`GET /orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n${upgrade}\r\nConnection: close\r\n\r\n`);
      expect(out, upgrade).toMatch(/^HTTP\/1\.1 200 /);
      const seen = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as { headers: Record<string, string> };
      for (const h of ['upgrade', 'http2-settings', 'connection']) expect(seen.headers[h], h).toBeUndefined();
    }
  });

  it('HTTP/1.1 on the TLS port: a refusal of a request whose body is still arriving closes the connection (node:http would read the rest, without bound)', async () => {
    // the body trickles (10 bytes a second, 1 MB announced) as a slow attacker's would
    const trickle = (head: string): Promise<{ text: string; closed: boolean }> => new Promise((resolve) => {
      let text = '';
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(head));
      const iv = setInterval(() => { if (!s.destroyed) s.write('0123456789'); }, 1_000);
      const t = setTimeout(() => { clearInterval(iv); s.destroy(); resolve({ text, closed: false }); }, 8_000);
      s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      s.on('close', () => { clearInterval(iv); clearTimeout(t); resolve({ text, closed: true }); });
      s.on('error', () => { /* a reset is a close too */ });
    });
    const before = echo.requests;
    const noToken = await trickle('POST /orders/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
    expect(noToken.text).toMatch(/^HTTP\/1\.1 401 [^\r]*\r\n[\s\S]*connection: close\r\n/i);
    expect(noToken.closed, 'still reading the body 8 s after the 401').toBe(true);
    const chunked = await trickle('POST /orders/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n');
    expect(chunked.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(chunked.closed, 'still reading the chunked body 8 s after the 401').toBe(true);
    expect(echo.requests).toBe(before);
  });

  it('metrics count requests by the protocol each client spoke', async () => {
    const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
    expect(m.text).toMatch(/portcullis_http2_requests_total\{protocol="h2"\} [1-9]/);
    expect(m.text).toMatch(/portcullis_http2_requests_total\{protocol="http\/1\.1"\} [1-9]/);
  });
});

/** SHA-256 fingerprint of the certificate a new TLS connection to `at` (default: the door's port) is shown. */
const served = (at = port): Promise<string> => new Promise((resolve, reject) => {
  const s = tls.connect({ host: '127.0.0.1', port: at, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => { resolve(s.getPeerX509Certificate()!.fingerprint256); s.destroy(); });
  s.on('error', reject);
});
const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

describe('a listener certificate renewed under the same file names (cert-manager, certbot)', () => {
  const reload = () => call(`${proxy.adminUrl}/reload`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });

  it('is served to new connections after a reload of the unchanged config; a renewal whose key does not match is refused and the running one kept', async () => {
    const t = (parse(readFileSync(proxy.configPath, 'utf8')) as { server: { http2: { tls: { cert_file: string; key_file: string } } } }).server.http2.tls;
    const first = await served();
    expect(first).toBe(fingerprint(t.cert_file));
    const renewed = selfSignedCert();
    // half a renewal (the new certificate, the old key): refused, the running certificate still served
    copyFileSync(renewed.cert, t.cert_file);
    const half = await reload();
    expect(half.status, half.text).toBe(422);
    expect(half.text).toContain('server.http2.tls.key_file');
    expect(await served()).toBe(first);
    copyFileSync(renewed.key, t.key_file);
    const whole = await reload();
    expect(whole.status, whole.text).toBe(200);
    expect(JSON.parse(whole.text).restart_required).toEqual([]);
    expect(await served()).toBe(fingerprint(renewed.cert));
    const r = await h2Fetch(`https://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/orders/1', ...bearer(await as.issueJwt({ sub: 'erin' })) });
    expect(r.status, r.text).toBe(200);
  });
});

describe('serve --watch and a cert-manager Secret volume (tls.crt → ..data/tls.crt, ..data swapped atomically)', () => {
  /** The Secret's files as the kubelet lays them out: a timestamped directory, `..data` pointing at it, the names pointing through `..data`. */
  const dir = tempDir('portcullis-secret-');
  const version = (name: string): string => {
    const { cert, key } = selfSignedCert();
    mkdirSync(join(dir, name));
    copyFileSync(cert, join(dir, name, 'tls.crt'));
    copyFileSync(key, join(dir, name, 'tls.key'));
    return join(dir, name, 'tls.crt');
  };
  let watched: ProxyProcess | undefined;
  afterAll(() => watched?.stop());

  it('the renewed certificate is served to new connections without a signal, and requests keep passing', async () => {
    const firstCert = version('..2026_12_07_a');
    symlinkSync('..2026_12_07_a', join(dir, '..data'));
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    watched = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: join(dir, 'tls.crt'), key_file: join(dir, 'tls.key') } } },
      issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
      routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
      verifier: { pool_size: 1 },
    }), { env: ADMIN_ENV, args: ['--watch'] });
    await waitReady(watched);
    const at = http2PortOf(watched.logs());
    expect(await served(at)).toBe(fingerprint(firstCert));
    // the kubelet's swap: a new directory, a `..data_tmp` link to it renamed over `..data`
    const renewed = version('..2026_12_07_b');
    symlinkSync('..2026_12_07_b', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor('the renewed certificate served', async () => await served(at) === fingerprint(renewed), 10_000, { everyMs: 100 });
    const r = await h2Fetch(`https://127.0.0.1:${at}`, { ':method': 'GET', ':path': '/orders/1', ...bearer(await as.issueJwt({ sub: 'frank' })) });
    expect(r.status, r.text).toBe(200);
  });
});
