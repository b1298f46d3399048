// What a hostile client's HTTP/1.1 framing makes the proxy write upstream: for each shape (CL/TE
// variants, chunk oddities, trailers, a request hidden behind a body or a refusal, a client that
// aborts mid-body) the upstream — a raw recorder of every byte, one pooled connection so reuse shows —
// must never see the hidden request, and every request it sees must be framed exactly.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { fixtureKeys, jwksOf } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { waitReady } from '../auth/tokens-helpers.js';

/** One upstream connection: its bytes, the request lines read from them, and any framing it could not read. */
interface UpConn { raw: string; requests: string[]; bodies: string[]; bad: boolean }
const conns: UpConn[] = [];

/** One request at the front of `buf`, read strictly (RFC 9112), or null when incomplete; 'bad' when misframed. */
function readRequest(buf: string): { len: number; line: string; body: string } | null | 'bad' {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.slice(0, end).split('\r\n');
  if (!/^[A-Z]+ \/\S* HTTP\/1\.1$/.test(lines[0]!)) return 'bad';
  let cl = -1; let chunked = false;
  for (const l of lines.slice(1)) {
    const m = /^([a-z0-9-]+): (.*)$/i.exec(l);
    if (m === null) return 'bad';
    const k = m[1]!.toLowerCase();
    if (k === 'content-length') { if (cl !== -1 || !/^\d+$/.test(m[2]!)) return 'bad'; cl = Number(m[2]); }
    if (k === 'transfer-encoding') { if (chunked || m[2] !== 'chunked') return 'bad'; chunked = true; }
  }
  if (chunked && cl !== -1) return 'bad';
  let p = end + 4;
  let body = '';
  if (chunked) {
    for (;;) {
      const le = buf.indexOf('\r\n', p);
      if (le < 0) return null;
      if (!/^[0-9a-f]+$/.test(buf.slice(p, le))) return 'bad';
      const n = parseInt(buf.slice(p, le), 16);
      p = le + 2;
      if (n === 0) { if (buf.length < p + 2) return null; if (buf.slice(p, p + 2) !== '\r\n') return 'bad'; p += 2; break; }
      if (buf.length < p + n + 2) return null;
      if (buf.slice(p + n, p + n + 2) !== '\r\n') return 'bad';
      body += buf.slice(p, p + n);
      p += n + 2;
    }
  } else if (cl > 0) {
    if (buf.length < p + cl) return null;
    body = buf.slice(p, p + cl);
    p += cl;
  }
  return { len: p, line: lines[0]!, body };
}

let upstream: Server;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  upstream = createServer((s: Socket) => {
    const c: UpConn = { raw: '', requests: [], bodies: [], bad: false };
    conns.push(c);
    let pending = '';
    s.on('data', (d: Buffer) => {
      c.raw += d.toString('latin1');
      pending += d.toString('latin1');
      for (;;) {
        const r = readRequest(pending);
        if (r === null) return;
        if (r === 'bad') { c.bad = true; s.destroy(); return; }
        pending = pending.slice(r.len);
        c.requests.push(r.line);
        c.bodies.push(r.body);
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${r.line.length + 8}\r\n\r\nreached ${r.line}`);
      }
    });
    s.on('error', () => { /* the proxy drops connections whose request did not complete */ });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as AddressInfo).port;
  jwks = await startScriptedUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([fixtureKeys().RS256])));
  });
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${port}`, {
    issuers: { fx: fixtureIssuer(jwks.url) },
    // one connection: a connection handed back to the pool with a request half written would glue it to the next
    upstreams: { app: { targets: [`http://127.0.0.1:${port}`], pool: { connections: 1 } } },
    routes: [
      { name: 'public', match: { path: '/pub/*' }, upstream: 'app', auth: 'none' },
      { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: {} },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy, 30_000); // a bound: the JWKS fetch at start is late on a loaded machine
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
  await jwks?.close();
});

/** Write `parts` (`gapMs` apart; `reset`: then RST); what came back within `waitMs` or until the close. */
function exchange(parts: string[], o: { gapMs?: number; waitMs?: number; reset?: boolean } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(proxy.port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => { s.destroy(); resolve({ text, closed: false }); }, o.waitMs ?? 1_500);
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(t); resolve({ text, closed: true }); });
    s.on('error', () => { /* a reset is a close too */ });
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        await new Promise((r) => setTimeout(r, o.gapMs ?? 0));
      }
      if (o.reset === true) s.resetAndDestroy();
    });
  });
}

interface Mark { bytes: number[]; requests: number[] }
/** Where every upstream connection stands now. */
function mark(): Mark {
  return { bytes: conns.map((c) => c.raw.length), requests: conns.map((c) => c.requests.length) };
}
/** The upstream's view since `m`: request lines, their bodies, all bytes, and whether any framing was bad. */
function since(m: Mark): { requests: string[]; bodies: string[]; raw: string; bad: boolean } {
  return {
    requests: conns.flatMap((c, i) => c.requests.slice(m.requests[i] ?? 0)),
    bodies: conns.flatMap((c, i) => c.bodies.slice(m.requests[i] ?? 0)),
    raw: conns.map((c, i) => c.raw.slice(m.bytes[i] ?? 0)).join(''),
    bad: conns.some((c) => c.bad),
  };
}

const SMUGGLED = 'GET /pub/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n';
const post = (path: string, framing: string, body: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\n${framing}\r\n${body}`;

// shape → the bytes; what the upstream may receive is checked below for all of them
const shapes: Array<[string, string]> = [
  ['Content-Length and Transfer-Encoding', post('/pub/a', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
  ['Transfer-Encoding and Content-Length: 0', post('/pub/a', 'Transfer-Encoding: chunked\r\nContent-Length: 0\r\n', `5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)],
  ...['chunked, identity', 'identity, chunked', 'Chunked', 'xchunked', 'chunked\x0b', 'identity', 'chunked;q=1'].map((te): [string, string] =>
    [`Transfer-Encoding ${JSON.stringify(te)}, the body a request`, post('/pub/a', `Transfer-Encoding: ${te}\r\n`, SMUGGLED)]),
  ['Transfer-Encoding twice', post('/pub/a', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
  ['Transfer-Encoding folded (obs-fold)', post('/pub/a', 'Transfer-Encoding: identity\r\n chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
  ['Transfer-Encoding on HTTP/1.0', `POST /pub/a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ...['5, 5', '+5', '5x', '0x5', '-1', '99999999999999999999', '18446744073709551621'].map((cl): [string, string] =>
    [`Content-Length ${JSON.stringify(cl)}`, post('/pub/a', `Content-Length: ${cl}\r\n`, `hello${SMUGGLED}`)]),
  ['Content-Length 0 and a second one spanning a request', post('/pub/a', `Content-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n`, SMUGGLED)],
  ...['ffffffffffffffff1', '10000000000000005', '-5', '0x5', '5;a="\r\n"'].map((size): [string, string] =>
    [`chunk size ${JSON.stringify(size)}`, post('/pub/a', 'Transfer-Encoding: chunked\r\n', `${size}\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)]),
  ['a forwarded chunked body, then a request in the same write', post('/pub/a', 'Transfer-Encoding: chunked\r\n', `5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)],
  ['no last CRLF, then a request', post('/pub/a', 'Transfer-Encoding: chunked\r\n', `5\r\nhello\r\n0\r\n${SMUGGLED}`)],
  ['401 (no token) whose body is a request', post('/admin/a', `Content-Length: ${SMUGGLED.length}\r\n`, SMUGGLED)],
  ['401 (no token) whose chunked body is a request', post('/admin/a', 'Transfer-Encoding: chunked\r\n', `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`)],
  ['413 by Content-Length, then a request', post('/pub/a', 'Content-Length: 99999999\r\n', SMUGGLED)],
  ['space before the colon', `GET /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length : ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['a bare LF inside a header value', `GET /pub/a HTTP/1.1\r\nHost: x\r\nX-A: a\n${SMUGGLED}`],
  ['absolute-form target naming another path', `GET http://x/pub/a HTTP/1.1\r\nHost: x\r\n\r\n${SMUGGLED}`],
];

// The shapes run side by side (each waits up to 1.5 s for a close that may never come): they still
// share the one pooled upstream connection, so a shape's leftover glued to another's request shows as
// SMUGGLED or bad framing in the window of whichever shape is running then — every shape's window ends
// after its own exchange, so a hole fails the file, possibly under a neighbour's name.
describe.concurrent('hidden requests', () => {
  for (const [name, bytes] of shapes) {
    it(`${name}: the hidden request never reaches the upstream`, async () => {
      const m = mark();
      const r = await exchange([bytes]);
      await new Promise((res) => setTimeout(res, 150)); // a forward wrongly started would land here
      const up = since(m);
      expect(r.text, 'no answer from the hidden request').not.toContain('reached GET /pub/SMUGGLED');
      expect(up.raw).not.toContain('SMUGGLED');
      expect(up.bad, up.raw).toBe(false);
    });
  }
});

it('Transfer-Encoding in any case, or padded, is read as chunked on both sides: the upstream gets the body framed anew', async () => {
  for (const te of ['Chunked', 'CHUNKED', ' chunked', 'chunked\t']) {
    const m = mark();
    // Connection: close: the exchange ends at the answer, not after waitMs on a kept-alive connection
    const r = await exchange([post('/pub/te', `Transfer-Encoding: ${te}\r\nConnection: close\r\n`, '5\r\nhello\r\n0\r\n\r\n')], { waitMs: 5_000 });
    expect(r.text, JSON.stringify(te)).toContain('reached POST /pub/te');
    const up = since(m);
    expect(up.bodies, JSON.stringify(te)).toEqual(['hello']);
    expect(up.raw).toMatch(/\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
  }
});

it('trailers (Authorization, Host, Content-Length) are dropped, never forwarded or used', async () => {
  const token = makeToken(fixtureKeys().RS256);
  const m = mark();
  const r = await exchange([post('/pub/tr', 'Transfer-Encoding: chunked\r\nConnection: close\r\n', `5\r\nhello\r\n0\r\nAuthorization: Bearer ${token}\r\nHost: evil\r\nContent-Length: 50\r\n\r\n`)], { waitMs: 5_000 });
  expect(r.text).toContain('reached POST /pub/tr');
  const up = since(m);
  expect(up.bodies).toEqual(['hello']);
  expect(up.raw).not.toMatch(/authorization|evil|content-length/i);
});

it('Expect: 100-continue on a request refused 401: the body sent after the 100 is never read as a request', async () => {
  const m = mark();
  const r = await exchange([post('/admin/a', `Expect: 100-continue\r\nContent-Length: ${SMUGGLED.length}\r\n`, ''), SMUGGLED], { gapMs: 300 });
  expect(r.text).toMatch(/HTTP\/1\.1 401 /);
  expect(r.text).not.toContain('reached');
  expect(since(m).raw).toBe('');
});

it('a client that aborts mid-body: nothing glued to the half body — a Content-Length one never left the proxy (read whole first), a chunked one\'s upstream connection is dropped and the next request goes on a fresh one', async () => {
  for (const [framing, half] of [['Content-Length: 100\r\n', 'x'.repeat(50)], ['Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n'], ['Transfer-Encoding: chunked\r\n', '20\r\nhello']] as const) {
    const m = mark();
    const before = conns.length;
    await exchange([post('/pub/half', framing, half)], { gapMs: 300, reset: true });
    await new Promise((res) => setTimeout(res, 150));
    const r = await exchange(['GET /pub/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { waitMs: 3_000 });
    expect(r.text, framing).toContain('reached GET /pub/next');
    const up = since(m);
    expect(up.bad, up.raw).toBe(false);
    expect(up.requests, framing).toEqual(['GET /pub/next HTTP/1.1']);
    if (framing.startsWith('Content-Length')) {
      // a body within server.limits.buffer_request_body_bytes is read whole before the upstream is asked: the
      // half one never left the proxy, so the pooled connection it would have taken is clean to reuse
      expect(up.raw, framing).not.toContain('/pub/half');
      continue;
    }
    // the half request's connection was dropped: the next one arrived on a connection of its own
    const next = conns.findIndex((c, i) => i >= before && c.raw.startsWith('GET /pub/next '));
    expect(next, framing).toBeGreaterThanOrEqual(before);
  }
});
