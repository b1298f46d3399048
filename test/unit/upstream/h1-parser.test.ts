// The upstream response parser on its own: framing, strictness (smuggling defences) and the
// property that any split of the input into reads parses exactly like the unsplit input.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { H1Parser, P_DONE, P_ERROR, type H1ParserSink } from '../../../node/upstream/h1-parser.js';
import { requestHead } from '../../../node/upstream/h1-request-head.js';

/** The values an arbitrary generates (fast-check 4 exports no such helper). */
type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

interface Parsed {
  heads: { status: number; text: string; headers: string[]; contentLength: number }[];
  body: string;
  done: boolean;
  error: string;
  keepAlive: boolean;
  eof: boolean;
}

/** Feed `chunks` to a fresh parser; `eof` ends the input like a socket FIN. */
function parse(chunks: Buffer[], opts: { head?: boolean; eof?: boolean; max?: number } = {}): Parsed {
  const out: Parsed = { heads: [], body: '', done: false, error: '', keepAlive: false, eof: false };
  const parts: Buffer[] = [];
  const sink: H1ParserSink = {
    onHead(status, text, headers, contentLength) { out.heads.push({ status, text, headers, contentLength }); return true; },
    onBody(chunk) { parts.push(Buffer.from(chunk)); return true; },
  };
  const p = new H1Parser(sink, opts.max ?? 64 * 1024);
  p.reset(opts.head ?? false);
  for (const c of chunks) {
    const r = p.execute(c, 0);
    if (r < 0) { out.error = p.error; break; }
    if (p.state === P_DONE) break;
  }
  if (opts.eof && p.state !== P_ERROR && p.state !== P_DONE) out.eof = p.finishEof();
  out.done = p.state === P_DONE;
  out.keepAlive = p.keepAlive;
  out.body = Buffer.concat(parts).toString('latin1');
  return out;
}

const one = (s: string, opts?: { head?: boolean; eof?: boolean; max?: number }): Parsed => parse([Buffer.from(s, 'latin1')], opts);

describe('H1Parser: valid responses', () => {
  it('content-length body, headers lower-cased, duplicates kept, OWS trimmed', () => {
    const r = one('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Odd:   spaced value \t\r\nContent-Length: 5\r\n\r\nhello');
    expect(r.error).toBe('');
    expect(r.done).toBe(true);
    expect(r.heads).toEqual([{ status: 200, text: 'OK', contentLength: 5, headers: ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-odd', 'spaced value', 'content-length', '5'] }]);
    expect(r.body).toBe('hello');
    expect(r.keepAlive).toBe(true);
  });

  it('status line without reason phrase', () => {
    const r = one('HTTP/1.1 404\r\ncontent-length: 0\r\n\r\n');
    expect(r.heads[0]).toMatchObject({ status: 404, text: '', contentLength: 0 });
    expect(r.done).toBe(true);
  });

  it('chunked body with extensions and trailers', () => {
    const r = one('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;x="q \\"s\\""\r\nhello\r\n6;ext\r\n world\r\nA\r\n0123456789\r\n0;last\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n');
    expect(r.error).toBe('');
    expect(r.done).toBe(true);
    expect(r.heads[0]!.contentLength).toBe(-1);
    expect(r.body).toBe('hello world0123456789');
  });

  it('HEAD, 204 and 304 have no body whatever the headers say', () => {
    expect(one('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', { head: true })).toMatchObject({ done: true, body: '', heads: [{ contentLength: 0 }] });
    expect(one('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n')).toMatchObject({ done: true, heads: [{ contentLength: 0 }] });
    expect(one('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n')).toMatchObject({ done: true, heads: [{ contentLength: 0 }] });
  });

  it('a bodiless answer whose head announces a body is never keep-alive (the body may still come); one that does not, is', () => {
    const announcing: Array<[string, boolean]> = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', true],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', true],
      ['HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n', false],
      ['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', false],
      ['HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n', false],
      // node:http's HEAD answer: no framing field at all — says nothing of what follows (an upstream answering HEAD as GET)
      ['HTTP/1.1 200 OK\r\n\r\n', true],
      ['HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n', true],
    ];
    for (const [s, head] of announcing) expect(one(s, { head }).keepAlive, s).toBe(false);
    const quiet: Array<[string, boolean]> = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', true],
      ['HTTP/1.1 204 No Content\r\n\r\n', false],
      ['HTTP/1.1 204 No Content\r\n\r\n', true],
      ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', false],
      ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', true],
    ];
    for (const [s, head] of quiet) expect(one(s, { head }).keepAlive, s).toBe(true);
  });

  it('chunk sizes with leading zeros (1*HEXDIG) and trailers whose names merely start like framing fields', () => {
    const r = one('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000000005\r\nhello\r\n0\r\nContent-Lengths: 1\r\nTransfer-Encodingx: y\r\n\r\n');
    expect(r.error).toBe('');
    expect(r.body).toBe('hello');
  });

  it('1xx responses are skipped', () => {
    const r = one('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    expect(r.heads.map((h) => h.status)).toEqual([201]);
    expect(r.body).toBe('ok');
  });

  it('close-delimited body ends at EOF and is never keep-alive', () => {
    const r = parse([Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'), Buffer.from('def')], { eof: true });
    expect(r).toMatchObject({ body: 'abcdef', done: true, eof: true, keepAlive: false });
  });

  it('keep-alive rules: Connection: close, HTTP/1.0 default and Keep-Alive timeout hint', () => {
    expect(one('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n').keepAlive).toBe(false);
    expect(one('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').keepAlive).toBe(false);
    expect(one('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').keepAlive).toBe(true);
    const p = new H1Parser({ onHead: () => true, onBody: () => true }, 1024);
    p.reset(false);
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\nKeep-Alive: max=100, timeout=7\r\nContent-Length: 0\r\n\r\n'), 0);
    expect(p.keepAliveHintMs).toBe(7000);
  });

  it('stops at the end of the message and reports where (left-over bytes are the caller\'s)', () => {
    const p = new H1Parser({ onHead: () => true, onBody: () => true }, 1024);
    p.reset(false);
    const buf = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n');
    expect(p.execute(buf, 0)).toBe(buf.indexOf('HTTP', 5));
    expect(p.state).toBe(P_DONE);
  });
});

describe('H1Parser: refused responses (H1_PROTOCOL)', () => {
  it.each([
    ['CL and TE together', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['TE then CL', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'],
    ['two different content-lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['content-length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello'],
    ['signed content-length', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello'],
    ['huge content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n'],
    ['TE gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['TE chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['TE identity', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n'],
    ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 0\r\n\r\n'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
    ['space in header name', 'HTTP/1.1 200 OK\r\nX Y: 1\r\nContent-Length: 0\r\n\r\n'],
    ['empty header name', 'HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n'],
    ['NUL in header value', 'HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\nContent-Length: 0\r\n\r\n'],
    ['bare CR in header value', 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n'],
    ['bare LF line ending', 'HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n'],
    ['HTTP/2 status line', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['status 600', 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n'],
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
    ['negative chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n'],
    ['0x chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n'],
    ['chunk size overflow', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n'],
    ['chunk size with space but no extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n'],
    ['chunk data longer than size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n'],
    ['LF-only after chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n'],
    ['LF-only chunk size line', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n'],
    ['CTL in chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u0001\r\nhello\r\n0\r\n\r\n'],
    ['whitespace in chunk extension (BWS)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = b\r\nhello\r\n0\r\n\r\n'],
    ['chunk extension without a name', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;=b\r\nhello\r\n0\r\n\r\n'],
    ['chunk extension with an empty value', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n'],
    ['chunk extension value with a space', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n0\r\n\r\n'],
    ['unterminated quoted chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a="b\r\nhello\r\n0\r\n\r\n'],
    ['trailer line without a colon', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\ngarbage\r\n\r\n'],
    ['space before a trailer colon', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T : 1\r\n\r\n'],
    ['content-length as a trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\ncontent-LENGTH: 0\r\n\r\n'],
    ['transfer-encoding as a trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['duplicate identical content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'],
    ['HTAB after transfer-encoding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n'],
    ['bare CR in the status line', 'HTTP/1.1 200 OK\r\r\nContent-Length: 0\r\n\r\n'],
    ['empty line before the status line', '\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['status 099', 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n'],
  ])('%s', (_name, raw) => {
    const r = one(raw);
    expect(r.error).not.toBe('');
  });

  it('head larger than maxHeaderBytes, in one read and split across reads', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(2000)}\r\nContent-Length: 0\r\n\r\n`;
    expect(one(big, { max: 1024 }).error).toMatch(/maxHeaderBytes/);
    const bytes = Buffer.from(big);
    const chunks = [];
    for (let i = 0; i < bytes.length; i += 100) chunks.push(bytes.subarray(i, i + 100));
    expect(parse(chunks, { max: 1024 }).error).toMatch(/maxHeaderBytes/);
    // An LF-only head never reaches CRLFCRLF: refused early, not after the limit.
    expect(parse([Buffer.from('HTTP/1.1 200 OK\nContent-Length: 0\n')], { max: 1024 }).error).toMatch(/bare LF/);
  });
});

describe('requestHead', () => {
  it('serialises with framing', () => {
    expect(requestHead('GET', '/a?b=1', ['host', 'x', 'accept', '*/*'], false, 0)).toBe('GET /a?b=1 HTTP/1.1\r\nhost: x\r\naccept: */*\r\n\r\n');
    expect(requestHead('POST', '/', ['host', 'x'], false, 0)).toBe('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
    expect(requestHead('PUT', '/', ['host', 'x'], true, 12)).toBe('PUT / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n');
    expect(requestHead('POST', '/', ['host', 'x'], true, -1)).toBe('POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
  });

  it('writes every name the same before and after the per-name line starts stop being kept (> 512 names, names > 64 characters)', () => {
    const line = (name: string): string => requestHead('GET', '/', [name, 'v', 'host', 'x'], false, 0);
    const names = [...Array.from({ length: 700 }, (_, i) => `x-n${i}`), `x-${'l'.repeat(80)}`];
    for (const n of names) expect(line(n)).toBe(`GET / HTTP/1.1\r\n${n}: v\r\nhost: x\r\n\r\n`);
    for (const n of names) expect(line(n)).toBe(`GET / HTTP/1.1\r\n${n}: v\r\nhost: x\r\n\r\n`); // kept or not, a second time
    expect(requestHead('GET', '/', [], false, 0)).toBe('GET / HTTP/1.1\r\n\r\n');
  });

  it('builds each head from its own headers only: a long head, a refused one, then short ones', () => {
    const many = Array.from({ length: 100 }, (_, i) => [`x-h${i}`, `v${i}`]).flat();
    const long = requestHead('GET', '/long', many, false, 0);
    expect(long.split('\r\n')).toHaveLength(100 + 3);
    expect(() => requestHead('GET', '/', ['x-a', 'ok', 'x-b', 'v\r\nx-evil: 1'], false, 0)).toThrow('invalid value for header x-b');
    expect(requestHead('GET', '/a', ['host', 'x'], false, 0)).toBe('GET /a HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(requestHead('GET', '/b', [], false, 0)).toBe('GET /b HTTP/1.1\r\n\r\n');
  });

  it('skips the value check only for a value equal to the caller-proven one', () => {
    const proven = 'Bearer abc.def.ghi';
    expect(requestHead('GET', '/', ['authorization', proven, 'x-a', 'v'], false, 0, proven)).toBe(`GET / HTTP/1.1\r\nauthorization: ${proven}\r\nx-a: v\r\n\r\n`);
    expect(() => requestHead('GET', '/', ['authorization', proven, 'x-b', 'v\r\nx-evil: 1'], false, 0, proven)).toThrow('invalid value for header x-b');
    expect(() => requestHead('GET', '/', ['authorization', 'Bearer a\r\nx-evil: 1'], false, 0, proven)).toThrow('invalid value for header authorization');
  });

  it('checks names the same on every request: a refused name stays refused, framing names stay dropped, with a bad value still refused', () => {
    for (let round = 0; round < 3; round++) {
      expect(() => requestHead('GET', '/', ['x a', 'v'], false, 0)).toThrow('invalid header name');
      expect(() => requestHead('GET', '/', ['x:a', 'v'], false, 0)).toThrow('invalid header name');
      expect(requestHead('GET', '/', ['Transfer-Encoding', 'chunked', 'x-ok', 'v'], false, 0)).toBe('GET / HTTP/1.1\r\nx-ok: v\r\n\r\n');
      expect(() => requestHead('GET', '/', ['content-length', '5\r\nx-evil: 1'], false, 0)).toThrow('invalid value for header content-length');
      expect(() => requestHead('GET', '/', ['x-ok', 'v\r\nx-evil: 1'], false, 0)).toThrow('invalid value for header x-ok');
    }
  });

  it('drops caller-supplied framing headers: framing always matches what is sent', () => {
    expect(requestHead('POST', '/', ['host', 'x', 'Content-Length', '999', 'transfer-encoding', 'chunked'], true, 5)).toBe('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n');
    expect(requestHead('GET', '/', ['content-length', '5', 'host', 'x'], false, 0)).toBe('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  });

  it.each([
    ['CRLF in value', 'GET', '/', ['x-a', 'v\r\nx-evil: 1']],
    ['LF in value', 'GET', '/', ['x-a', 'v\nx']],
    ['NUL in value', 'GET', '/', ['x-a', 'v\u0000']],
    ['code unit above 0xFF (latin1 would write LF)', 'GET', '/', ['x-a', 'v\u010ax-evil: 1']],
    ['colon in name', 'GET', '/', ['x:a', 'v']],
    ['space in name', 'GET', '/', ['x a', 'v']],
    ['empty name', 'GET', '/', ['', 'v']],
    ['space in path', 'GET', '/a b', []],
    ['CRLF in path', 'GET', '/a\r\nx: y', []],
    ['U+0120 in path', 'GET', '/a\u0120HTTP/1.1', []],
    ['bad method', 'GE T', '/', []],
    ['CONNECT', 'CONNECT', 'example.com:443', []],
  ])('refuses %s', (_n, method, path, headers) => {
    expect(() => requestHead(method, path, headers, false, 0)).toThrow();
  });
});

// ---- property: splitting never changes the result ------------------------------

const tokenArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/).filter((n) => !['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(n));
const valueArb = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/);
const bodyArb = fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u));
const responseArb = fc.record({
  status: fc.constantFrom(200, 201, 202, 203, 206, 400, 404, 500, 503),
  reason: fc.constantFrom('', 'OK', 'Some Reason'),
  headers: fc.array(fc.tuple(tokenArb, valueArb), { maxLength: 12 }),
  body: bodyArb,
  framing: fc.constantFrom('cl', 'chunked', 'eof'),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }),
  interim: fc.boolean(),
});

function serialise(r: ValueOf<typeof responseArb>): Buffer {
  let head = r.interim ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
  head += `HTTP/1.1 ${r.status}${r.reason === '' ? '' : ' ' + r.reason}\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  if (r.framing === 'cl') head += `content-length: ${r.body.length}\r\n`;
  if (r.framing === 'chunked') head += 'Transfer-Encoding: chunked\r\n';
  head += '\r\n';
  if (r.framing !== 'chunked') return Buffer.concat([Buffer.from(head, 'latin1'), r.body]);
  const parts = [Buffer.from(head, 'latin1')];
  let off = 0, i = 0;
  while (off < r.body.length) {
    const n = Math.min(r.chunkSizes[i++ % r.chunkSizes.length]!, r.body.length - off);
    parts.push(Buffer.from(`${n.toString(16)}${i % 2 === 0 ? ';ext=1' : ''}\r\n`), r.body.subarray(off, off + n), Buffer.from('\r\n'));
    off += n;
  }
  parts.push(Buffer.from('0\r\nx-trailer: t\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Split `buf` at the given (sorted, deduplicated) cut points. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const pts = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of pts) { if (p > prev) out.push(buf.subarray(prev, p)); prev = p; }
  if (prev < buf.length) out.push(buf.subarray(prev));
  return out;
}

describe('H1Parser: property', () => {
  it('any split into reads parses like the unsplit response', () => {
    fc.assert(fc.property(responseArb, fc.array(fc.nat(), { maxLength: 40 }), (r, cuts) => {
      const raw = serialise(r);
      const eof = r.framing === 'eof';
      const whole = parse([raw], { eof });
      const pieces = parse(split(raw, cuts), { eof });
      expect(whole.error).toBe('');
      expect(whole.done).toBe(true);
      expect(whole.body).toBe(r.body.toString('latin1'));
      expect(whole.heads).toHaveLength(1);
      expect(whole.heads[0]!.status).toBe(r.status);
      expect(pieces).toEqual(whole);
    }), { numRuns: 400 });
  });

  it('byte-by-byte parses like the unsplit response', () => {
    fc.assert(fc.property(responseArb, (r) => {
      const raw = serialise(r);
      const eof = r.framing === 'eof';
      const bytes: Buffer[] = [];
      for (let i = 0; i < raw.length; i++) bytes.push(raw.subarray(i, i + 1));
      expect(parse(bytes, { eof })).toEqual(parse([raw], { eof }));
    }), { numRuns: 60 });
  });
});
