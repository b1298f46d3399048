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
