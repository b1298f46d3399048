// What an HTTP/2 client can put beside a request that a request line cannot, on the h2c listener:
// request trailers (HEADERS after DATA) never reach an HTTP/1.1 or HTTP/2 upstream and never carry
// the credential; connection-specific fields, upper-case names and `te` other than `trailers` are
// stream errors (RFC 9113 §8.2.1, §8.2.2: RST_STREAM PROTOCOL_ERROR, nothing forwarded); `:scheme`
// does not steer X-Forwarded-Proto; extended CONNECT is not offered and reset whatever the token;
// an HTTP/1.1 `Upgrade: h2c` on the h2c port is not a request (GOAWAY, closed).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2, { type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, http2PortOf } from '../../helpers/h2-client.js';
import { rawSession, frame, FRAME, FLAG, literal } from '../../helpers/h2-frames.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

interface H2Seen { headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders | null; body: string }

let as: AuthServer;
let h1: ScriptedUpstream;
const h1Trailers: string[][] = [];
let h2up: Http2Server;
const h2Seen: H2Seen[] = [];
let proxy: ProxyProcess;
let port: number;

beforeAll(async () => {
  as = await startAuthServer();
  h1 = await startScriptedUpstream((req, res) => { req.on('end', () => { h1Trailers.push(req.rawTrailers); res.end('ok'); }); });
  h2up = http2.createServer();
  h2up.on('stream', (stream, headers) => {
    const s: H2Seen = { headers, trailers: null, body: '' };
    h2Seen.push(s);
    stream.on('error', () => { /* the proxy may cancel */ });
    stream.on('trailers', (t: IncomingHttpHeaders) => { s.trailers = t; });
    stream.on('data', (c: Buffer) => { s.body += c.toString(); });
    stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end('ok'); });
  });
  await new Promise<void>((r) => h2up.listen(0, '127.0.0.1', r));
  proxy = await startProxy(baseConfig(h1.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    upstreams: { app: { targets: [h1.url] }, app2: { targets: [`http://127.0.0.1:${(h2up.address() as AddressInfo).port}`], protocol: 'h2c' } },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'public-h2', match: { path: '/h2/*' }, upstream: 'app2', auth: 'none' },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app2', auth: { scopes: { all: ['orders:read'] } } },
    ],
    verifier: { pool_size: 1 },
  }));
  await waitReady(proxy);
  port = http2PortOf(proxy.logs());
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), h1?.close(), new Promise((r) => h2up?.close(r))]);
});

/** A POST with `body`, then trailers (HEADERS after DATA, END_STREAM); status and body of the answer. */
async function postWithTrailers(path: string, trailers: Record<string, string>): Promise<{ status: number; text: string }> {
  const s = await h2Connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve) => {
      const req = s.request({ ':method': 'POST', ':path': path }, { waitForTrailers: true });
      let status = 0;
      let text = '';
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (c: Buffer) => { text += c.toString(); });
      req.on('wantTrailers', () => req.sendTrailers(trailers));
      req.on('error', () => { /* status stays 0 */ });
      req.on('close', () => resolve({ status, text }));
      req.end('hello');
    });
  } finally { s.close(); }
}

const SMUGGLED = { authorization: 'Bearer not-a-token', 'x-auth-subject': 'root', 'x-forwarded-host': 'admin.internal', 'x-trailer-probe': 'seen' };

describe('request trailers', () => {
  it('never reach an HTTP/1.1 upstream: the body does, no trailer field does (chunked, empty trailer section)', async () => {
    const before = h1.seen.length;
    const r = await postWithTrailers('/public/t', SMUGGLED);
    expect(r.status, r.text).toBe(200);
    expect(h1.seen.length).toBe(before + 1);
    const seen = h1.seen.at(-1)!;
    expect(seen.bodyBytes).toBe(5);
    for (const [k, v] of Object.entries(SMUGGLED)) expect(seen.headers[k], k).not.toBe(v);
    expect(h1Trailers.at(-1)).toEqual([]);
  });

  it('never reach an HTTP/2 upstream', async () => {
    const before = h2Seen.length;
    const r = await postWithTrailers('/h2/t', SMUGGLED);
    expect(r.status, r.text).toBe(200);
    expect(h2Seen.length).toBe(before + 1);
    const seen = h2Seen.at(-1)!;
    expect(seen.body).toBe('hello');
    expect(seen.trailers).toBeNull();
    for (const [k, v] of Object.entries(SMUGGLED)) expect(seen.headers[k], k).not.toBe(v);
  });

  it('a token in the trailers is no credential: a protected route answers 401, nothing forwarded', async () => {
    const before = h2Seen.length;
    const token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const r = await postWithTrailers('/orders/1', { authorization: `Bearer ${token}` });
    expect(r.status, r.text).toBe(401);
    expect(JSON.parse(r.text)).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_MISSING' });
    expect(h2Seen.length).toBe(before);
  });
});

describe('fields HTTP/2 forbids in a request (RFC 9113 §8.2)', () => {
  const cases: Array<[string, Buffer]> = [
    ['connection: keep-alive', literal('connection', 'keep-alive')],
    ['keep-alive', literal('keep-alive', '5')],
    ['proxy-connection', literal('proxy-connection', 'keep-alive')],
    ['transfer-encoding: chunked', literal('transfer-encoding', 'chunked')],
    ['upgrade: h2c', literal('upgrade', 'h2c')],
    ['te: gzip', literal('te', 'gzip')],
    ['an upper-case name (X-Auth-Subject)', literal('X-Auth-Subject', 'root')],
    ['an upper-case Host', literal('Host', 'admin.internal')],
  ];
  it('each is a stream error (RST_STREAM PROTOCOL_ERROR), the session stays usable, nothing reaches the upstream', async () => {
    const before = h1.seen.length;
    const s = await rawSession(port);
    try {
      let id = 1;
      for (const [, field] of cases) {
        s.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', `/public/${id}`), literal(':authority', 'localhost'), field])));
        id += 2;
      }
      // then a plain request on the same session: answered, so every reset above was the stream's alone
      s.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', '/public/ok'), literal(':authority', 'localhost')])));
      await waitFor('s.resets.size === cases.length && s.responses.has(id)', () => s.resets.size === cases.length && s.responses.has(id), 5_000, { detail: () => `resets ${JSON.stringify([...s.resets])}` });
      for (let i = 0; i < cases.length; i++) expect(s.resets.get(2 * i + 1), cases[i]![0]).toBe(1);
      expect(s.goaway).toBeNull();
    } finally { s.socket.destroy(); }
    expect(h1.seen.slice(before).map((x) => x.url)).toEqual(['/public/ok']);
  });

  it('te: trailers is allowed, and not forwarded to an HTTP/1.1 upstream (hop-by-hop)', async () => {
    const s = await h2Connect(`http://127.0.0.1:${port}`);
    try {
      const status = await new Promise<number>((resolve) => {
        const req = s.request({ ':method': 'GET', ':path': '/public/te', te: 'trailers' });
        let st = 0;
        req.on('response', (h) => { st = Number(h[':status']); });
        req.on('error', () => { /* st stays 0 */ });
        req.on('close', () => resolve(st));
        req.resume();
      });
      expect(status).toBe(200);
    } finally { s.close(); }
    expect(h1.seen.at(-1)!.url).toBe('/public/te');
    expect(h1.seen.at(-1)!.headers.te).toBeUndefined();
  });
});

describe('extended CONNECT (RFC 8441, WebSockets over HTTP/2)', () => {
  it('is not offered (no SETTINGS_ENABLE_CONNECT_PROTOCOL); sent anyway it is reset before any judging, with or without a valid token; nothing forwarded', async () => {
    const s = await h2Connect(`http://127.0.0.1:${port}`);
    try {
      if (s.remoteSettings.enableConnectProtocol === undefined) await new Promise((r) => s.once('remoteSettings', r));
      expect(s.remoteSettings.enableConnectProtocol).toBe(false);
    } finally { s.close(); }
    const before = { h1: h1.seen.length, h2: h2Seen.length };
    const token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const raw = await rawSession(port);
    try {
      const ext = (id: number, path: string, extra: Buffer[]): Buffer => frame(FRAME.HEADERS, FLAG.END_HEADERS, id, Buffer.concat([
        literal(':method', 'CONNECT'), literal(':protocol', 'websocket'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', 'localhost'), literal('sec-websocket-version', '13'), ...extra,
      ]));
      raw.send(ext(1, '/public/ws', []), ext(3, '/orders/ws', []), ext(5, '/orders/ws', [literal('authorization', `Bearer ${token}`)]));
      await waitFor('raw.resets.size === 3', () => raw.resets.size === 3, 5_000, { detail: () => `resets ${JSON.stringify([...raw.resets])}` });
      expect([...raw.resets.values()]).toEqual([1, 1, 1]);
      expect(raw.responses.size).toBe(0);
    } finally { raw.socket.destroy(); }
    expect({ h1: h1.seen.length, h2: h2Seen.length }).toEqual(before);
  });
});

describe(':scheme and upgrades on the h2c port', () => {
  it('a client claiming :scheme https (or ftp) over cleartext does not make X-Forwarded-Proto https', async () => {
    const s = await h2Connect(`http://127.0.0.1:${port}`);
    try {
      for (const scheme of ['https', 'ftp']) {
        const status = await new Promise<number>((resolve) => {
          const req = s.request({ ':method': 'GET', ':path': `/public/${scheme}`, ':scheme': scheme });
          let st = 0;
          req.on('response', (h) => { st = Number(h[':status']); });
          req.on('error', () => { /* st stays 0 */ });
          req.on('close', () => resolve(st));
          req.resume();
        });
        expect(status, scheme).toBe(200);
        expect(h1.seen.at(-1)!.url).toBe(`/public/${scheme}`);
        expect(h1.seen.at(-1)!.headers['x-forwarded-proto'], scheme).toBe('http');
      }
    } finally { s.close(); }
  });

  it('an HTTP/1.1 request with Upgrade: h2c on the h2c port gets SETTINGS, GOAWAY and a closed connection, nothing forwarded', async () => {
    const before = h1.seen.length;
    const got = await new Promise<{ bytes: Buffer; closed: boolean }>((resolve) => {
      let bytes = Buffer.alloc(0);
      const c = net.connect(port, '127.0.0.1', () => c.write('GET /public/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n'));
      const t = setTimeout(() => { c.destroy(); resolve({ bytes, closed: false }); }, 5_000);
      c.on('data', (d: Buffer) => { bytes = Buffer.concat([bytes, d]); });
      c.on('error', () => { /* reported by close */ });
      c.on('close', () => { clearTimeout(t); resolve({ bytes, closed: true }); });
    });
    expect(got.closed).toBe(true);
    expect(got.bytes.includes(Buffer.from('HTTP/1.1')), 'no HTTP/1.1 answer (no 101)').toBe(false);
    // the server's frames: SETTINGS, then GOAWAY (type 7); no stream was opened
    let goaway = -1;
    for (let i = 0; i + 9 <= got.bytes.length;) {
      const len = got.bytes.readUIntBE(i, 3);
      if (got.bytes[i + 3] === FRAME.GOAWAY) goaway = got.bytes.readUInt32BE(i + 9 + 4);
      i += 9 + len;
    }
    expect(goaway, 'GOAWAY sent').toBeGreaterThan(0);
    expect(h1.seen.length).toBe(before);
  });
});
