// What an HTTP/2 client sees when an HTTP/1.1 upstream's response goes wrong after its head: a
// body shorter than its Content-Length, a chunked body cut before its last chunk, a framing
// error mid-body. The proxy cuts the relay; on HTTP/2 that must be RST_STREAM, never END_STREAM
// (node's stream.close(code) ends the writable side first — a clean end a client takes as the
// whole body) — and a reset the proxy sends is not the client's (the rapid-reset cap counts only
// the client's). An upstream head node:http2 refuses to send gets a 502, not a bare reset.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2 from 'node:http2';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { startProxy, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Fetch, h2Request, http2PortOf, publicH2Config } from '../../helpers/h2-client.js';
import { requestText, rawRequest } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';

/** Exact response bytes per request path; `later`: more bytes 50 ms after; `close`: then the upstream closes the socket. */
const SCRIPT: Record<string, { bytes: string; later?: string; close: boolean }> = {
  '/public/short': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort', close: true },
  '/public/chunk-cut': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n', close: true },
  '/public/chunk-bad': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n', later: '10000000000000004\r\nEVIL\r\n0\r\n\r\n', close: false },
  '/public/whole': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole', close: false },
  '/public/h2-settings': { bytes: 'HTTP/1.1 200 OK\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 2\r\n\r\nok', close: false },
  '/public/no-content': { bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', close: false },
  '/public/two-types': { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok', close: false },
};

const RESET_CAP = 3;
let upstream: Server;
let proxy: ProxyProcess;
let origin: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  upstream = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => { /* the proxy may reset it */ });
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, end).split(' ')[1] ?? '';
        buf = buf.slice(end + 4); // GETs and HEADs only: no body
        const step = SCRIPT[path] ?? { bytes: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', close: false };
        s.write(step.bytes);
        setTimeout(() => {
          if (step.later !== undefined) s.write(step.later);
          if (step.close) s.destroy();
        }, 50);
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const config = publicH2Config(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  // a low rapid-reset cap: the proxy's own resets must not count against the client's session
  (config.server as { http2: Record<string, unknown> }).http2.flood = { resets: RESET_CAP };
  proxy = await startProxy(config, { env: ADMIN_ENV });
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

const get = (path: string): ReturnType<typeof h2Fetch> => h2Fetch(origin, { ':method': 'GET', ':path': path });

describe('an HTTP/1.1 upstream cut after its head, seen by an HTTP/2 client', () => {
  it('fewer bytes than Content-Length, then close: the client gets RST_STREAM CANCEL after the bytes, not a clean end', async () => {
    const r = await get('/public/short');
    expect(r.status).toBe(200);
    expect(r.text).toBe('short');
    expect(r.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('chunked body closed before its last chunk: RST_STREAM CANCEL', async () => {
    const r = await get('/public/chunk-cut');
    expect(r.status).toBe(200);
    expect(r.text).toBe('short');
    expect(r.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('an overflowing chunk size mid-body: RST_STREAM CANCEL, and nothing after the framing error reaches the client', async () => {
    const r = await get('/public/chunk-bad');
    expect(r.status).toBe(200);
    expect(r.text).toBe('short');
    expect(r.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('a whole response still ends cleanly (END_STREAM, no reset), and the access log says truncated for the cut ones', async () => {
    const r = await get('/public/whole');
    expect(r.status).toBe(200);
    expect(r.text).toBe('whole');
    expect(r.rstCode).toBe(0);
    // access-log lines are written asynchronously: wait for the request's own
    const line = (path: string): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === path);
    await waitFor("line('/public/whole') !== undefined", () => line('/public/whole') !== undefined, 5_000);
    expect(line('/public/short')).toMatchObject({ outcome: 'truncated' });
    expect(line('/public/whole')).toMatchObject({ outcome: 'complete' });
  });

  it(`more cut responses on one session than the client may reset (${RESET_CAP}): the session stays open for its other requests`, async () => {
    const session = await h2Connect(origin);
    try {
      for (let i = 0; i < RESET_CAP + 3; i++) {
        const r = await h2Request(session, { ':method': 'GET', ':path': '/public/chunk-bad' });
        expect(r.text).toBe('short');
      }
      const r = await h2Request(session, { ':method': 'GET', ':path': '/public/whole' });
      expect(r.status).toBe(200);
      expect(r.text).toBe('whole');
      expect(session.destroyed).toBe(false);
    } finally {
      session.close();
    }
  });
});

describe('upstream heads node:http2 cannot send', () => {
  it('HTTP2-Settings (connection-specific, RFC 9113 §8.2.2) is dropped like the other hop-by-hop fields: 200 on both listeners', async () => {
    const r = await get('/public/h2-settings');
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok');
    expect(r.headers['http2-settings']).toBeUndefined();
    const h1 = await rawRequest(proxy.port, requestText('GET', '/public/h2-settings'));
    expect(h1.status).toBe(200);
    expect(h1.headers['http2-settings']).toBeUndefined();
  });

  it('a 204 with Content-Length (RFC 9110 §8.6 forbids it) to a HEAD: the 204 without it on both listeners (HTTP/2 before: a reset, the client read it as malformed)', async () => {
    const r = await h2Fetch(origin, { ':method': 'HEAD', ':path': '/public/no-content' });
    expect(r.rstCode).toBe(0);
    expect(r.status).toBe(204);
    expect(r.headers['content-length']).toBeUndefined();
    const h1 = await rawRequest(proxy.port, requestText('HEAD', '/public/no-content'), { head: true });
    expect(h1.status).toBe(204);
    expect(h1.headers['content-length']).toBeUndefined();
  });

  it('a head with two Content-Type fields: 502 PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE with a JSON body, not a bare stream reset', async () => {
    const r = await get('/public/two-types');
    expect(r.status).toBe(502);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE' });
    expect(r.rstCode).toBe(0);
    // the proxy serves on: the next request on the same upstream is answered
    expect((await get('/public/whole')).text).toBe('whole');
  });
});
