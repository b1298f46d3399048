// What the pinned uWebSockets.js build (20.30) does with request header bytes and response heads,
// measured against uWS ALONE (a minimal app, raw sockets) so that a build that changes it fails
// here and README "Limitations" gets revisited. The proxy's answers to these live in
// request-bytes.test.ts and response-head.test.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:net';
import uWS, { type HttpResponse, type us_listen_socket } from 'uWebSockets.js';
import { waitFor } from '../../helpers/wait.js';

type Handler = (res: HttpResponse, seen: Array<[string, string]>) => void;
const handlers = new Map<string, Handler>();
let lastSeen: Array<[string, string]> | null = null;
let listenSocket: us_listen_socket | null = null;
let port = 0;

beforeAll(async () => {
  const app = uWS.App();
  app.any('/*', (res, req) => {
    const seen: Array<[string, string]> = [];
    req.forEach((k, v) => { seen.push([k, v]); });
    lastSeen = seen;
    res.onAborted(() => {});
    const h = handlers.get(req.getUrl());
    if (h !== undefined) h(res, seen);
    else res.end('ok');
  });
  await new Promise<void>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => {
    if (s === false) { reject(new Error('listen failed')); return; }
    listenSocket = s;
    port = uWS.us_socket_local_port(s);
    resolve();
  }));
});

afterAll(() => {
  if (listenSocket !== null) uWS.us_listen_socket_close(listenSocket);
});

/**
 * Send `bytes`, collect what arrives until the server closes, `until` holds for the text so far,
 * or `ms` pass. `at` records arrival times (ms after the write).
 */
function exchange(bytes: Buffer, ms = 1_000, until: (text: string) => boolean = () => false): Promise<{ text: string; at: Array<[number, string]>; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const at: Array<[number, string]> = [];
    let closed = false;
    const t0 = performance.now();
    const text = (): string => at.map((x) => x[1]).join('');
    const done = (): void => { clearTimeout(timer); sock.destroy(); resolve({ text: text(), at, closed }); };
    const timer = setTimeout(done, ms);
    sock.on('data', (d: Buffer) => { at.push([performance.now() - t0, d.toString('latin1')]); if (until(text())) done(); });
    sock.on('close', () => { closed = true; done(); });
    sock.on('error', () => {});
    sock.write(bytes);
  });
}


const headerProbe = (hex: string): Buffer => Buffer.concat([Buffer.from('GET /h HTTP/1.1\r\nHost: x\r\nX-V: ', 'latin1'), Buffer.from(hex, 'hex'), Buffer.from('\r\n\r\n', 'latin1')]);

/** The value JS sees for header X-V sent as raw `hex` bytes; null when uWS did not answer. */
async function valueSeen(hex: string): Promise<string | null> {
  lastSeen = null;
  const r = await exchange(headerProbe(hex), 1_000, (t) => t.endsWith('\r\n\r\nok'));
  if (!r.text.startsWith('HTTP/1.1 200')) return null;
  return (lastSeen as Array<[string, string]> | null)?.find(([k]) => k === 'x-v')?.[1] ?? null;
}

describe('uWS 20.30: request header value bytes as JS sees them (req.forEach)', () => {
  it('bytes ≥ 0x80 at either end of a value are removed before JS sees it (signed-char whitespace trim)', async () => {
    expect(await valueSeen('636166c3a9')).toBe('caf'); // "café": the é is gone
    expect(await valueSeen('c3a9')).toBe('');
    expect(await valueSeen('ff61')).toBe('a');
    expect(await valueSeen('6180')).toBe('a');
    expect(await valueSeen('e282ac')).toBe(''); // "€"
  });

  it('inside a value, bytes are decoded as UTF-8: the original bytes cannot be recovered', async () => {
    expect(await valueSeen('61c3a962')).toBe('a\u00e9b'); // 2 bytes → 1 char (latin1 would write 1 byte)
    expect(await valueSeen('618062')).toBe('a\ufffdb'); // invalid UTF-8 → U+FFFD
    expect(await valueSeen('61c48062')).toBe('a\u0100b'); // above U+00FF
    expect(await valueSeen('617f62')).toBe('a\x7fb'); // DEL passes
  });

  it('every CTL but HTAB inside a value: uWS never hands the request to JS and does not answer', async () => {
    const ctls = [...Array(0x20).keys()].filter((c) => c !== 0x0a && c !== 0x0d);
    const answers = await Promise.all(ctls.map((c) => exchange(headerProbe(`61${c.toString(16).padStart(2, '0')}62`), 500, (t) => t.includes('\r\n\r\n'))));
    expect(ctls.filter((_c, i) => answers[i]!.text !== '')).toEqual([0x09]);
  });
});

describe('uWS 20.30: a response head without a body byte', () => {
  it('chunked (unknown length): write("") sends nothing that ends the head; the head completes only with the first chunk', async () => {
    let res: HttpResponse | null = null;
    handlers.set('/chunked', (r) => {
      res = r;
      r.cork(() => { r.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream'); r.write(''); });
    });
    const sock = connect(port, '127.0.0.1');
    let text = '';
    sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    sock.write('GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n');
    // what the handler's cork flushed: the status line and its header, not the end of the head
    await waitFor('the status line and its header', () => text.includes('text/event-stream\r\n'));
    expect(text).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n');
    res!.cork(() => { res!.write('data: x\n\n'); });
    await waitFor('the first chunk', () => text.includes('data: x'));
    expect(text).toMatch(/Transfer-Encoding: chunked\r\n\r\n[0-9a-f]+\r\ndata: x/);
    res!.cork(() => { res!.end(); });
    sock.destroy();
  });

  it('known length: tryEnd("", n) ends the head with Content-Length: n and sends it at once', async () => {
    let res!: HttpResponse;
    handlers.set('/known', (r) => {
      res = r;
      r.cork(() => { r.writeStatus('200 OK'); r.tryEnd('', 5); });
    });
    const r = await exchange(Buffer.from('GET /known HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'), 3_000, (t) => t.includes('\r\n\r\n'));
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 5\r\n\r\n$/);
    res.cork(() => { res.tryEnd('hello', 5); });
  });
});
