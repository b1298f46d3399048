// Bytes ≥ 0x80 in an upstream's response head (obs-text, RFC 9110 §5.5: raw UTF-8 filenames in
// Content-Disposition, cookie values, a Latin-1 reason phrase) reach an HTTP/1.1 client of the
// main listener unchanged. The parser reads them one char per byte; written to uWS as a string
// they went out UTF-8-encoded again (0xC3 0xA9 → 0xC3 0x83 0xC2 0xA9): a changed header.
import { it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, type RawUpstream, requestText, startRawUpstream } from '../../helpers/raw-http.js';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
/** "café.txt" in UTF-8, a lone 0xFF, a Latin-1 reason phrase "Été". */
const FILENAME = Buffer.concat([latin1('attachment; filename="caf'), Buffer.from([0xc3, 0xa9]), latin1('.txt"')]);
const RAW = Buffer.from([0x61, 0xff, 0x62]);
const REASON = Buffer.from([0xc9, 0x74, 0xe9]);

/**
 * An upstream head with many fields: repeated names, an empty value, a name the Connection header lists
 * (hop-by-hop: dropped), Keep-Alive (dropped), a value with inner spaces and separators.
 */
const MANY_HEAD = [
  'HTTP/1.1 200 OK', 'Content-Type: application/json; charset=utf-8', 'Set-Cookie: a=1; Path=/; HttpOnly', 'X-Hop: dropped',
  'Connection: keep-alive, X-Hop', 'Set-Cookie: b=2', 'X-Empty: ', 'Keep-Alive: timeout=5', 'ETag: W/"5-fXkwN6B2"',
  'Cache-Control: no-store', 'Vary: Accept-Encoding, Origin', 'X-Request-Id: 0b6f1f3e-6c1a', 'Content-Length: 2', '', 'ok',
].join('\r\n');

let upstream: RawUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  upstream = await startRawUpstream((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, end).split(' ')[1] ?? '';
        buf = buf.slice(end + 4);
        if (path === '/bytes') {
          s.write(Buffer.concat([latin1('HTTP/1.1 200 '), REASON, latin1('\r\nContent-Disposition: '), FILENAME, latin1('\r\nX-Raw: '), RAW, latin1('\r\nX-Plain: ascii\r\nContent-Length: 2\r\n\r\nok')]));
        } else if (path === '/custom') {
          s.write('HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nok');
        } else if (path === '/no-reason') {
          s.write('HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok');
        } else if (path === '/many') {
          s.write(MANY_HEAD);
        } else if (path === '/many-bytes') {
          s.write(Buffer.concat([latin1('HTTP/1.1 200 OK\r\nX-First: a\r\nX-Raw: '), RAW, latin1('\r\nX-Last: z\r\nContent-Length: 2\r\n\r\nok')]));
        } else if (path === '/bare') {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
        } else {
          s.write('HTTP/1.1 200 OK\r\nX-Plain: ascii\r\nContent-Length: 2\r\n\r\nok');
        }
      }
    });
  });
  const url = upstream.url;
  proxy = await startProxy(baseConfig(url), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

/** The raw header line `name: …` of a response, as bytes. */
function line(raw: string, name: string): Buffer | undefined {
  const l = raw.split('\r\n').find((x) => x.toLowerCase().startsWith(`${name}: `));
  return l === undefined ? undefined : latin1(l.slice(name.length + 2));
}

it('header values and the reason phrase with bytes ≥ 0x80 reach the client byte for byte', async () => {
  const r = await rawRequest(proxy.port, requestText('GET', '/bytes'));
  expect(r.status).toBe(200);
  expect(r.body.toString()).toBe('ok');
  expect(line(r.raw, 'content-disposition')?.toString('hex')).toBe(FILENAME.toString('hex'));
  expect(line(r.raw, 'x-raw')?.toString('hex')).toBe(RAW.toString('hex'));
  expect(latin1(r.raw.split('\r\n')[0]!).toString('hex')).toBe(Buffer.concat([latin1('HTTP/1.1 200 '), REASON]).toString('hex'));
  expect(r.headers['x-plain']).toBe('ascii');
});

it('an all-ASCII head is unchanged', async () => {
  const r = await rawRequest(proxy.port, requestText('GET', '/plain'));
  expect(r.raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  expect(r.headers['x-plain']).toBe('ascii');
});

// a 200 with the standard reason goes out on uWS's own status line (no writeStatus call): the
// line must read the same, and any other reason phrase must still be the upstream's
it('the status line of a 200: the standard one, an empty reason, a response with nothing else, and an own reason phrase', async () => {
  for (const path of ['/plain', '/no-reason', '/bare']) {
    const r = await rawRequest(proxy.port, requestText('GET', path));
    expect(r.raw.split('\r\n')[0], path).toBe('HTTP/1.1 200 OK');
  }
  const bare = await rawRequest(proxy.port, requestText('GET', '/bare'));
  expect(bare.headers['content-length']).toBe('0');
  expect(bare.body.length).toBe(0);
  const head = await rawRequest(proxy.port, requestText('HEAD', '/bare'), { head: true });
  expect(head.raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  const custom = await rawRequest(proxy.port, requestText('GET', '/custom'));
  expect(custom.raw.split('\r\n')[0]).toBe('HTTP/1.1 200 Fine');
  expect(custom.body.toString()).toBe('ok');
});

// the forwarded fields go to uWS as one block (node/http/response-head.ts): the client must read the same
// lines, in the upstream's order, duplicates and empty values kept, hop-by-hop ones dropped
it('a response with many header fields reaches the client line for line, in order', async () => {
  const r = await rawRequest(proxy.port, requestText('GET', '/many'));
  expect(r.status).toBe(200);
  expect(r.body.toString()).toBe('ok');
  const lines = r.raw.slice(0, r.raw.indexOf('\r\n\r\n')).split('\r\n');
  const forwarded = ['content-type', 'set-cookie', 'x-empty', 'etag', 'cache-control', 'vary', 'x-request-id', 'x-hop', 'keep-alive', 'connection'];
  expect(lines.filter((l) => forwarded.includes(l.slice(0, l.indexOf(':')).toLowerCase()))).toEqual([
    'content-type: application/json; charset=utf-8', 'set-cookie: a=1; Path=/; HttpOnly', 'set-cookie: b=2', 'x-empty: ',
    'etag: W/"5-fXkwN6B2"', 'cache-control: no-store', 'vary: Accept-Encoding, Origin', 'x-request-id: 0b6f1f3e-6c1a',
  ]);
  // nothing else between the status line and the end of the head but what uWS adds itself
  expect(lines.slice(1).filter((l) => !/^(date|uwebsockets|content-length): /i.test(l) && !forwarded.includes(l.slice(0, l.indexOf(':')).toLowerCase()))).toEqual([]);
});

it('a head with bytes ≥ 0x80 in one value keeps every other field around it', async () => {
  const r = await rawRequest(proxy.port, requestText('GET', '/many-bytes'));
  const lines = r.raw.slice(0, r.raw.indexOf('\r\n\r\n')).split('\r\n').filter((l) => l.startsWith('x-'));
  expect(lines.map((l) => latin1(l).toString('hex'))).toEqual([latin1('x-first: a'), Buffer.concat([latin1('x-raw: '), RAW]), latin1('x-last: z')].map((b) => b.toString('hex')));
});
