// H1Pool against real node:http servers and raw net servers that send hand-written (and
// malformed) responses: framing, keep-alive, retries, timeouts, flow control and limits.
import { describe, it, expect, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { H1Control, H1Error, H1Handler, H1PoolOptions, H1Request } from '../../../node/upstream/h1-client.js';
import { H1Pool } from '../../../node/upstream/h1-pool.js';
import { waitFor } from '../../helpers/wait.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const baseOpts: H1PoolOptions = { connections: 10, keepAliveMs: 10_000, connectTimeoutMs: 2_000, headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 };

function pool(port: number, opts: Partial<H1PoolOptions> = {}): H1Pool {
  const p = new H1Pool(`http://127.0.0.1:${port}`, { ...baseOpts, ...opts });
  cleanups.push(() => p.destroy());
  return p;
}

interface Result {
  status: number;
  statusText: string;
  headers: string[];
  contentLength: number;
  body: Buffer;
  error: H1Error | null;
  events: string[];
  /** Body bytes seen (also with countOnly). */
  bytes: number;
}

interface Hooks {
  onStart?: (ctl: H1Control) => void;
  onData?: (chunk: Buffer, ctl: H1Control) => void;
  /** Keep only the byte count (large bodies). */
  countOnly?: boolean;
}

/** Run one request; resolves at onResponseEnd or onError. `events` records every callback. */
function send(p: H1Pool, req: Partial<H1Request> = {}, hooks: Hooks = {}): { ctl: H1Control; result: Promise<Result> } {
  const r: Result = { status: 0, statusText: '', headers: [], contentLength: -2, body: Buffer.alloc(0), error: null, events: [], bytes: 0 };
  const parts: Buffer[] = [];
  let bytes = 0;
  let ctl!: H1Control;
  let resolve!: (r: Result) => void;
  const result = new Promise<Result>((res) => { resolve = res; });
  const handler: H1Handler = {
    onResponseStart(status, statusText, headers, contentLength) {
      r.events.push('start');
      Object.assign(r, { status, statusText, headers, contentLength });
      hooks.onStart?.(ctl);
    },
    onResponseData(chunk) {
      if (r.events.at(-1) !== 'data') r.events.push('data');
      bytes += chunk.length;
      if (!hooks.countOnly) parts.push(Buffer.from(chunk));
      hooks.onData?.(chunk, ctl);
    },
    onResponseEnd() {
      r.events.push('end');
      r.body = hooks.countOnly ? Buffer.alloc(0) : Buffer.concat(parts);
      r.bytes = bytes;
      resolve(r);
    },
    onError(err) {
      r.events.push('error');
      r.error = err;
      r.body = Buffer.concat(parts);
      resolve(r);
    },
  };
  ctl = p.request({ method: 'GET', path: '/', headers: ['host', 'upstream'], body: null, contentLength: 0, ...req }, handler);
  return { ctl, result };
}

const get = async (p: H1Pool, req: Partial<H1Request> = {}): Promise<Result> => send(p, req).result;


interface Server { port: number; connections: number; sockets: Set<net.Socket>; requests: string[] }

async function httpServer(handler: http.RequestListener, setup?: (s: http.Server) => void): Promise<Server & { server: http.Server }> {
  const server = http.createServer(handler);
  setup?.(server);
  const st = { port: 0, connections: 0, sockets: new Set<net.Socket>(), requests: [] as string[], server };
  server.on('connection', (s) => { st.connections++; st.sockets.add(s); s.on('close', () => st.sockets.delete(s)); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  st.port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => { server.closeAllConnections(); return new Promise((r) => server.close(r)); });
  return st;
}

/**
 * Raw TCP server: `onRequest(socket, head, n)` runs for each complete request head (requests
 * without bodies) on a connection, n counting from 1 per connection.
 */
async function rawServer(onRequest: (s: net.Socket, head: string, n: number, st: Server) => void, onConn?: (s: net.Socket) => void): Promise<Server> {
  const st: Server = { port: 0, connections: 0, sockets: new Set(), requests: [] };
  const server = net.createServer((s) => {
    st.connections++;
    st.sockets.add(s);
    s.on('close', () => st.sockets.delete(s));
    s.on('error', () => {});
    onConn?.(s);
    let buf = '';
    let n = 0;
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i !== -1; i = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, i + 4);
        buf = buf.slice(i + 4);
        st.requests.push(head);
        onRequest(s, head, ++n, st);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  st.port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => { for (const s of st.sockets) s.destroy(); return new Promise((r) => server.close(r)); });
  return st;
}

/** Raw server answering every request with `response`. */
const fixed = (response: string | Buffer): Promise<Server> => rawServer((s) => { s.write(response); });

// ---------------------------------------------------------------------------------

describe('H1Pool: basics against node:http', () => {
  it('simple GET: status, headers as received, body', async () => {
    const srv = await httpServer((req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Path', req.url!);
      res.end('hello world');
    });
    const r = await get(pool(srv.port), { path: '/x?y=1' });
    expect(r.error).toBeNull();
    expect(r.status).toBe(200);
    expect(r.statusText).toBe('OK');
    expect(r.contentLength).toBe(11);
    expect(r.body.toString()).toBe('hello world');
    const h = r.headers;
    expect(h.filter((_, i) => i % 2 === 0 && h[i] === 'set-cookie').length).toBe(2);
    expect(h[h.indexOf('x-path') + 1]).toBe('/x?y=1');
    expect(r.events).toEqual(['start', 'data', 'end']);
  });

  it('keep-alive: sequential requests reuse one connection', async () => {
    const srv = await httpServer((_req, res) => res.end('ok'));
    const p = pool(srv.port);
    for (let i = 0; i < 5; i++) expect((await get(p)).body.toString()).toBe('ok');
    expect(srv.connections).toBe(1);
    expect(p.stats()).toMatchObject({ connected: 1, free: 1, running: 0, pending: 0 });
  });

  it('HEAD: Content-Length reported as 0, no body read; its socket is not reused (a body sent anyway could come later)', async () => {
    const srv = await httpServer((_req, res) => { res.setHeader('content-length', '14'); res.end('representation'); }); // node:http sends no body for HEAD
    const p = pool(srv.port);
    const r = await get(p, { method: 'HEAD' });
    expect(r).toMatchObject({ status: 200, contentLength: 0, error: null, events: ['start', 'end'] });
    expect(r.headers[r.headers.indexOf('content-length') + 1]).toBe('14');
    expect((await get(p)).body.toString()).toBe('representation');
    expect(srv.connections).toBe(2);
  });

  it('Connection: close from the server: the socket is not reused', async () => {
    const srv = await httpServer((_req, res) => { res.setHeader('connection', 'close'); res.end('bye'); });
    const p = pool(srv.port);
    expect((await get(p)).body.toString()).toBe('bye');
    expect((await get(p)).body.toString()).toBe('bye');
    expect(srv.connections).toBe(2);
  });

  it('a request waiting for a socket longer than its headers timeout → H1_HEADERS_TIMEOUT, requestSent false', async () => {
    const srv = await httpServer((_req, res) => setTimeout(() => res.end('slow'), 600));
    const p = pool(srv.port, { connections: 1 });
    const first = get(p);
    const queued = await get(p, { headersTimeoutMs: 200 });
    expect(queued.error?.code).toBe('H1_HEADERS_TIMEOUT');
    expect(queued.error?.requestSent).toBe(false);
    expect((await first).body.toString()).toBe('slow');
    expect(srv.connections).toBe(1);
  });

  it('pool limit: 10 concurrent slow requests use at most 2 sockets and all succeed', async () => {
    let concurrent = 0, maxConcurrent = 0;
    const srv = await httpServer((_req, res) => {
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      setTimeout(() => { concurrent--; res.end('slow'); }, 40);
    });
    const p = pool(srv.port, { connections: 2 });
    const all = Array.from({ length: 10 }, () => get(p));
    expect(p.stats().pending).toBe(8);
    const rs = await Promise.all(all);
    expect(rs.every((r) => r.body.toString() === 'slow')).toBe(true);
    expect(srv.connections).toBe(2);
    expect(maxConcurrent).toBe(2);
  });
});

describe('H1Pool: retire (a reload replaced the upstream)', () => {
  it('still serves requests that started on the old config (close() answers them H1_CLOSED) and keeps no socket open afterwards', async () => {
    const srv = await httpServer((req, res) => { setTimeout(() => res.end(`ok ${req.url}`), req.url === '/slow' ? 60 : 0); });
    const p = pool(srv.port);
    expect((await get(p)).status).toBe(200);
    expect(p.stats()).toMatchObject({ connected: 1, free: 1 });
    const running = get(p, { path: '/slow' });
    await waitFor('p.stats().running === 1', () => p.stats().running === 1);
    p.retire();
    // the idle socket goes at once; the busy one when its response ended
    const late = await get(p, { path: '/late' });
    expect([late.status, late.error, late.body.toString()]).toEqual([200, null, 'ok /late']);
    const slow = await running;
    expect([slow.status, slow.error, slow.body.toString()]).toEqual([200, null, 'ok /slow']);
    await waitFor('srv.sockets.size === 0', () => srv.sockets.size === 0);
    expect(srv.sockets.size, 'sockets the retired pool left open at the upstream').toBe(0);
    expect(p.stats()).toMatchObject({ connected: 0, free: 0, running: 0, pending: 0 });
    // for comparison: a closed pool refuses
    const closed = pool(srv.port);
    void closed.close();
    expect((await get(closed)).error?.code).toBe('H1_CLOSED');
  });
});

describe('H1Pool: request bodies', () => {
  const SIZE = 3 * 1024 * 1024 + 17;
  const payload = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) payload[i] = (i * 31 + (i >> 9)) & 0xff;
  const digest = createHash('sha256').update(payload).digest('hex');

  /** A Readable producing `payload` in 64 KiB pieces, counting the pauses it sees. */
  function source(): Readable & { pauses: number } {
    let off = 0;
    const r = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (off >= SIZE) { this.push(null); return; }
        const n = Math.min(64 * 1024, SIZE - off);
        this.push(payload.subarray(off, off + n));
        off += n;
      },
    }) as Readable & { pauses: number };
    r.pauses = 0;
    r.on('pause', () => { r.pauses++; });
    return r;
  }

  /** Server that waits before reading (so the client sees backpressure), then hashes the body. */
  async function sink(): Promise<Server & { seen: { cl?: string; te?: string; digest: string; length: number }[] }> {
    const seen: { cl?: string; te?: string; digest: string; length: number }[] = [];
    const srv = await httpServer((req, res) => {
      req.pause();
      const h = createHash('sha256');
      let length = 0;
      setTimeout(() => {
        req.on('data', (d: Buffer) => { h.update(d); length += d.length; });
        req.on('end', () => {
          seen.push({ cl: req.headers['content-length'], te: req.headers['transfer-encoding'], digest: h.digest('hex'), length });
          res.end('stored');
        });
        req.resume();
      }, 100);
    });
    return Object.assign(srv, { seen });
  }

  it('POST with Content-Length: streamed with backpressure, bytes intact', async () => {
    const srv = await sink();
    const body = source();
    const r = await get(pool(srv.port), { method: 'POST', body, contentLength: SIZE });
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('stored');
    expect(srv.seen[0]).toEqual({ cl: String(SIZE), te: undefined, digest, length: SIZE });
    expect(body.pauses).toBeGreaterThan(0);
  });

  it('POST with unknown length: chunked, bytes intact', async () => {
    const srv = await sink();
    const body = source();
    const r = await get(pool(srv.port), { method: 'POST', body, contentLength: -1 });
    expect(r.error).toBeNull();
    expect(srv.seen[0]).toEqual({ cl: undefined, te: 'chunked', digest, length: SIZE });
    expect(body.pauses).toBeGreaterThan(0);
  });

  it('small buffered body goes out with the head; the socket is reused afterwards', async () => {
    const srv = await httpServer((req, res) => { let s = ''; req.on('data', (d) => { s += d; }); req.on('end', () => res.end(`got ${s}`)); });
    const p = pool(srv.port);
    const body = Readable.from([Buffer.from('abc'), Buffer.from('def')], { objectMode: false });
    const r = await get(p, { method: 'PUT', body, contentLength: 6 });
    expect(r.body.toString()).toBe('got abcdef');
    const body2 = new Readable({ read() {} });
    body2.push('xyz');
    body2.push(null);
    expect((await get(p, { method: 'POST', body: body2, contentLength: 3 })).body.toString()).toBe('got xyz');
    expect(srv.connections).toBe(1);
  });

  it('upstream that stops reading the request body → H1_BODY_TIMEOUT', async () => {
    const srv = await rawServer(() => {}, (s) => s.pause()); // never reads: our writes back up
    const chunk = Buffer.alloc(256 * 1024);
    let produced = 0;
    const body = new Readable({ read() { produced += chunk.length; this.push(produced > 256 * 1024 * 1024 ? null : chunk); } });
    const r = await get(pool(srv.port, { bodyTimeoutMs: 300 }), { method: 'POST', body, contentLength: -1 });
    expect(r.error?.code).toBe('H1_BODY_TIMEOUT');
    expect(r.error?.requestSent).toBe(true);
    expect(produced).toBeLessThan(128 * 1024 * 1024); // stopped pulling the body, not buffered it
  });

  it('body-less POST is sent with content-length: 0', async () => {
    const srv = await httpServer((req, res) => res.end(String(req.headers['content-length'])));
    expect((await get(pool(srv.port), { method: 'POST' })).body.toString()).toBe('0');
  });

  it('request body stream error: socket destroyed, H1_REQUEST_BODY', async () => {
    let closed = false;
    const srv = await httpServer((req) => { req.socket.on('close', () => { closed = true; }); req.resume(); });
    const body = new Readable({ read() {} });
    const { result } = send(pool(srv.port), { method: 'POST', body, contentLength: -1 });
    body.push('partial');
    setTimeout(() => body.destroy(new Error('client went away')), 50);
    const r = await result;
    expect(r.error?.code).toBe('H1_REQUEST_BODY');
    expect(r.error?.requestSent).toBe(true);
    await sleep(50);
    expect(closed).toBe(true);
  });

  it('a failure decided inside request() (destroyed body on a reused socket) reaches onError on a later tick, and not at all after abort()', async () => {
    const srv = await httpServer((_req, res) => res.end('ok'));
    const p = pool(srv.port);
    expect((await get(p)).status).toBe(200); // leaves an idle socket: the next request writes synchronously
    const dead = (): Readable => { const b = new Readable({ read() {} }); b.destroy(); return b; };
    const { result } = send(p, { method: 'POST', body: dead(), contentLength: 5 });
    let settled = false;
    void result.then(() => { settled = true; });
    await Promise.resolve();
    expect(settled).toBe(false);
    const r = await result;
    expect(r.events).toEqual(['error']);
    expect(r.error?.code).toBe('H1_REQUEST_BODY');
    expect(r.error?.requestSent).toBe(false);

    expect((await get(p)).status).toBe(200);
    const aborted = send(p, { method: 'POST', body: dead(), contentLength: 5 });
    aborted.ctl.abort();
    const late = await Promise.race([aborted.result.then(() => 'called'), sleep(100).then(() => 'silent')]);
    expect(late).toBe('silent');
  });

  it('a streamed body that fails before its first byte: nothing reaches the upstream, requestSent false', async () => {
    const srv = await rawServer(() => {});
    const body = new Readable({ read() {} });
    const { result } = send(pool(srv.port), { method: 'POST', body, contentLength: -1 });
    setTimeout(() => body.destroy(new Error('malformed client framing')), 50);
    const r = await result;
    expect(r.error?.code).toBe('H1_REQUEST_BODY');
    expect(r.error?.requestSent).toBe(false);
    expect(srv.requests).toEqual([]);
  });

  it('socket closed while waiting for the first body byte: retried on a fresh socket, body intact', async () => {
    let conn = 0;
    const srv = await httpServer((req, res) => {
      let s = '';
      req.on('data', (d) => { s += d; });
      req.on('end', () => res.end(`got ${s}`));
    });
    srv.server.on('connection', (sock) => { if (++conn === 1) setTimeout(() => sock.destroy(), 50); });
    const p = pool(srv.port);
    await sleep(0);
    const body = new Readable({ read() {} });
    const { result } = send(p, { method: 'POST', body, contentLength: 5 });
    setTimeout(() => { body.push('hello'); body.push(null); }, 150);
    const r = await result;
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('got hello');
    expect(srv.connections).toBe(2);
  });

  it('bytes from the server before our (body-delayed) head are not taken as the response: retried', async () => {
    let conn = 0;
    const srv = await rawServer((s, head) => {
      // The POST's 5-byte body follows its head (same write); a content-length body is not a new request head.
      s.write(head.startsWith('POST') ? 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\npost' : 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    }, (s) => { if (++conn === 2) setTimeout(() => s.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'), 400); });
    const p = pool(srv.port, { connections: 2 });
    // Two idle sockets; the request takes the most recent (LIFO), which will send its 408
    // (400 ms after connecting: time enough, even on a loaded machine, to see both idle first).
    await Promise.all([get(p), get(p)]);
    expect(p.stats().free).toBe(2);
    const body = new Readable({ read() {} });
    const { result } = send(p, { method: 'POST', body, contentLength: 5 });
    setTimeout(() => { body.push('hello'); body.push(null); }, 700);
    const r = await result;
    expect(r.error).toBeNull();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('post');
    expect(srv.connections).toBe(3); // the 408 socket was dropped, the retry took a fresh one
  });

  it('a bad header value fails with H1_REQUEST_HEAD (not a response error) before anything is written', async () => {
    const srv = await rawServer(() => {});
    const r = await get(pool(srv.port), { headers: ['host', 'u', 'x-evil', 'a\r\nx-injected: 1'] });
    expect(r.error?.code).toBe('H1_REQUEST_HEAD');
    expect(r.error?.requestSent).toBe(false);
    await sleep(30);
    expect(srv.connections).toBe(0);
  });
});

describe('H1Pool: onReadEnd', () => {
  it('follows a read that carried only the head, and is not called once the response ended', async () => {
    let sock: net.Socket | null = null;
    const srv = await rawServer((s) => { sock = s; s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n'); });
    const events: string[] = [];
    const done = new Promise<void>((resolve) => {
      pool(srv.port).request({ method: 'GET', path: '/', headers: ['host', 'x'], body: null, contentLength: 0 }, {
        onResponseStart() { events.push('start'); },
        onResponseData(c) { events.push(`data:${c.toString()}`); },
        onReadEnd() { events.push('read-end'); },
        onResponseEnd() { events.push('end'); resolve(); },
        onError(e) { events.push(`error:${e.code}`); resolve(); },
      });
    });
    await waitFor("events.includes('read-end')", () => events.includes('read-end'));
    expect(events).toEqual(['start', 'read-end']);
    sock!.write('ok');
    await done;
    expect(events).toEqual(['start', 'read-end', 'data:ok', 'end']);
  });
});

describe('H1Pool: response framing against raw servers', () => {
  it('304 without a length and 204 with Content-Length: 0 carry no body; the socket stays usable', async () => {
    const srv = await rawServer((s, _h, n) => {
      if (n === 1) s.write('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
      else if (n === 2) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nETag: "x"\r\n\r\n');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(srv.port);
    expect(await get(p)).toMatchObject({ status: 204, contentLength: 0, error: null, events: ['start', 'end'] });
    expect(await get(p)).toMatchObject({ status: 304, contentLength: 0, error: null, events: ['start', 'end'] });
    expect((await get(p)).body.toString()).toBe('ok');
    expect(srv.connections).toBe(1);
  });

  it('204 or 304 announcing a body (Content-Length > 0, chunked) carries none, and its socket is not reused: what follows is not the next response', async () => {
    // n counts per socket: the requests so far across sockets decide the answer
    const srv = await rawServer((s, _h, _n, st) => {
      const n = st.requests.length;
      if (n === 1) s.write('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n');
      else if (n === 2) s.write('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n');
      else if (n === 3) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(srv.port);
    expect(await get(p)).toMatchObject({ status: 204, contentLength: 0, error: null, events: ['start', 'end'] });
    expect(await get(p)).toMatchObject({ status: 204, contentLength: 0, error: null, events: ['start', 'end'] });
    expect(await get(p)).toMatchObject({ status: 304, contentLength: 0, error: null, events: ['start', 'end'] });
    expect((await get(p)).body.toString()).toBe('ok');
    expect(srv.connections).toBe(4);
  });

  it('chunked response with extensions and trailers', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1;x\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: 1\r\n\r\n');
    const p = pool(srv.port);
    const r = await get(p);
    expect(r).toMatchObject({ status: 200, contentLength: -1, error: null });
    expect(r.body.toString()).toBe('hello world');
    expect((await get(p)).body.toString()).toBe('hello world');
    expect(srv.connections).toBe(1);
  });

  it('response written one byte per write parses identically', async () => {
    const response = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n';
    const srv = await rawServer((s) => {
      let i = 0;
      const step = (): void => { if (i < response.length && !s.destroyed) { s.write(response[i++]!); setImmediate(step); } };
      step();
    }, (s) => s.setNoDelay(true));
    const r = await get(pool(srv.port));
    expect(r.error).toBeNull();
    expect(r.headers).toEqual(['content-type', 'text/plain', 'x-a', '1', 'transfer-encoding', 'chunked']);
    expect(r.body.toString()).toBe('abcde');
  });

  it('close-delimited body is read until close; the socket is not reused', async () => {
    const srv = await rawServer((s) => { s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil '); setTimeout(() => s.end('the end'), 20); });
    const p = pool(srv.port);
    const r = await get(p);
    expect(r).toMatchObject({ status: 200, contentLength: -1, error: null });
    expect(r.body.toString()).toBe('until the end');
    expect((await get(p)).body.toString()).toBe('until the end');
    expect(srv.connections).toBe(2);
  });

  it('100 Continue and 103 Early Hints are skipped', async () => {
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\n');
      setTimeout(() => s.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'), 20);
    });
    const r = await get(pool(srv.port));
    expect(r).toMatchObject({ status: 200, error: null, events: ['start', 'data', 'end'] });
    expect(r.body.toString()).toBe('done');
  });

  it('bytes after a complete response (pipelining garbage): response delivered, socket closed', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil');
    const p = pool(srv.port);
    expect((await get(p)).body.toString()).toBe('ok');
    expect((await get(p)).body.toString()).toBe('ok');
    expect(srv.connections).toBe(2);
  });

  it.each([
    ['CL + TE', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two differing Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nhello\r\n0\r\n\r\n'],
    ['TE other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n'],
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'],
  ])('%s → H1_PROTOCOL, socket closed', async (_n, response) => {
    const srv = await fixed(response);
    const r = await get(pool(srv.port));
    expect(r.error?.code).toBe('H1_PROTOCOL');
    expect(r.error?.requestSent).toBe(true);
    await sleep(30);
    expect(srv.sockets.size).toBe(0);
  });

  it('headers larger than maxHeaderBytes → H1_PROTOCOL', async () => {
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 20; i++) s.write(`X-Pad-${i}: ${'x'.repeat(100)}\r\n`);
      s.write('Content-Length: 0\r\n\r\n');
    });
    const r = await get(pool(srv.port, { maxHeaderBytes: 1024 }));
    expect(r.error?.code).toBe('H1_PROTOCOL');
    expect(r.error?.message).toMatch(/maxHeaderBytes/);
  });
});

describe('H1Pool: failures', () => {
  it('connection refused → ECONNREFUSED, requestSent false', async () => {
    const s = net.createServer().listen(0, '127.0.0.1');
    await once(s, 'listening');
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const r = await get(pool(port));
    expect(r.error?.code).toBe('ECONNREFUSED');
    expect(r.error?.requestSent).toBe(false);
  });

  it('connect timeout (TLS handshake never completes) → ETIMEDOUT, requestSent false', async () => {
    // TCP connects, but the server never answers the ClientHello: the connect phase includes the handshake.
    const srv = await rawServer(() => {});
    const p = new H1Pool(`https://127.0.0.1:${srv.port}`, { ...baseOpts, connectTimeoutMs: 200 });
    cleanups.push(() => p.destroy());
    const t0 = Date.now();
    const r = await get(p);
    expect(r.error?.code).toBe('ETIMEDOUT');
    expect(r.error?.requestSent).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190); // at connectTimeoutMs: the server never answers the handshake
    await sleep(30);
    expect(srv.sockets.size).toBe(0);
  });

  it('server resets mid-body → H1_RESET after onResponseStart, requestSent true', async () => {
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial');
      setTimeout(() => s.resetAndDestroy(), 20);
    });
    const r = await get(pool(srv.port));
    expect(r.events).toEqual(['start', 'data', 'error']);
    expect(r.error?.code).toBe('H1_RESET');
    expect(r.error?.requestSent).toBe(true);
  });

  it('server closes before any response byte on a fresh socket → H1_RESET (no retry)', async () => {
    const srv = await rawServer((s) => s.destroy());
    const r = await get(pool(srv.port));
    expect(r.error?.code).toBe('H1_RESET');
    expect(srv.connections).toBe(1);
  });

  it('headers timeout → H1_HEADERS_TIMEOUT, socket closed', async () => {
    const srv = await rawServer(() => {});
    // the pool's own timeout is longer than the test may run: only the request's 200 ms can fire
    const p = pool(srv.port, { headersTimeoutMs: 60_000 });
    const t0 = Date.now();
    const r = await get(p, { headersTimeoutMs: 200 });
    expect(r.error?.code).toBe('H1_HEADERS_TIMEOUT');
    expect(r.error?.requestSent).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    await sleep(30);
    expect(srv.sockets.size).toBe(0);
  });

  it('body idle timeout → H1_BODY_TIMEOUT after the head', async () => {
    const srv = await rawServer((s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome'); });
    const r = await get(pool(srv.port, { bodyTimeoutMs: 200 }));
    expect(r.events).toEqual(['start', 'data', 'error']);
    expect(r.error?.code).toBe('H1_BODY_TIMEOUT');
  });

  it('a slowly dripping body does not time out', async () => {
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n');
      let i = 0;
      const t = setInterval(() => { s.write('x'); if (++i === 6) clearInterval(t); }, 80);
    });
    const r = await get(pool(srv.port, { bodyTimeoutMs: 200 }));
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('xxxxxx');
  });

  it('abort mid-response: socket closed (server sees close), no callbacks after abort', async () => {
    let serverClosed = false;
    const srv = await rawServer((s) => {
      s.on('close', () => { serverClosed = true; });
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      const t = setInterval(() => { if (s.destroyed) clearInterval(t); else s.write('x'.repeat(100)); }, 5);
    });
    const p = pool(srv.port);
    const { ctl, result } = send(p, {}, { onData: (_c, c) => c.abort() });
    const outcome = await Promise.race([result.then(() => 'callback'), sleep(200).then(() => 'silent')]);
    expect(outcome).toBe('silent');
    expect(ctl.aborted).toBe(true);
    await sleep(30);
    expect(serverClosed).toBe(true);
    expect(p.stats()).toMatchObject({ connected: 0, running: 0 });
  });

  it('a throwing handler is contained: that socket is dropped, the pool keeps working', async () => {
    const srv = await httpServer((_req, res) => res.end('fine'));
    const p = pool(srv.port);
    let errored: H1Error | null = null;
    p.request({ method: 'GET', path: '/', headers: ['host', 'x'], body: null, contentLength: 0 }, {
      onResponseStart() { throw new Error('bug in handler'); },
      onResponseData() {},
      onResponseEnd() {},
      onError(e) { errored = e; },
    });
    await waitFor('errored !== null', () => errored !== null);
    expect(errored!.code).toBe('H1_HANDLER');
    expect((await get(p)).body.toString()).toBe('fine');
    expect(srv.connections).toBe(2);
  });

  it('close(): waits for running exchanges, then refuses new ones', async () => {
    const srv = await httpServer((_req, res) => setTimeout(() => res.end('late'), 50));
    const p = pool(srv.port);
    const running = get(p);
    await sleep(10);
    let closed = false;
    const closing = p.close().then(() => { closed = true; });
    expect((await get(p)).error?.code).toBe('H1_CLOSED');
    expect(closed).toBe(false);
    expect((await running).body.toString()).toBe('late');
    await closing;
    expect(p.stats().connected).toBe(0);
  });
});

describe('H1Pool: keep-alive edge cases', () => {
  it('server closes idle sockets after 50 ms: the next request still succeeds on a new socket', async () => {
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => s.end(), 50);
    });
    const p = pool(srv.port);
    expect((await get(p)).body.toString()).toBe('ok');
    await waitFor('p.stats().connected === 0', () => p.stats().connected === 0); // a loaded machine may run the server's 50 ms close late
    expect(p.stats().connected).toBe(0); // the close was noticed while idle
    expect((await get(p)).body.toString()).toBe('ok');
    expect(srv.connections).toBe(2);
  });

  it('stale socket race: reused socket dies before any response byte → one silent retry (idempotent, no body)', async () => {
    const srv = await rawServer((s, _h, n) => {
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
      else s.destroy(); // the request raced the server's idle close
    });
    const p = pool(srv.port);
    expect((await get(p)).body.toString()).toBe('first');
    const r = await get(p, { path: '/again' });
    expect(r.error).toBeNull();
    expect(r.events).toEqual(['start', 'data', 'end']);
    expect(r.body.toString()).toBe('first');
    expect(srv.connections).toBe(2);
    expect(srv.requests.filter((h) => h.startsWith('GET /again'))).toHaveLength(2);
  });

  it('stale socket race: a POST is not replayed', async () => {
    const srv = await rawServer((s, _h, n) => {
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
      else s.destroy();
    });
    const p = pool(srv.port);
    await get(p);
    const r = await get(p, { method: 'POST' });
    expect(r.error?.code).toBe('H1_RESET');
    expect(r.error?.requestSent).toBe(true);
    expect(srv.connections).toBe(1);
  });

  it('Keep-Alive: timeout hint shortens the idle lifetime', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok');
    const p = pool(srv.port);
    await get(p);
    // timeout=1 s minus the 1 s safety margin: not kept at all.
    expect(p.stats().connected).toBe(0);
  });

  it('idle sockets are closed after keepAliveMs', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const p = pool(srv.port, { keepAliveMs: 150 });
    await get(p);
    expect(p.stats().free).toBe(1);
    await sleep(400);
    expect(p.stats().free).toBe(0);
    expect(srv.sockets.size).toBe(0);
  });
});

describe('H1Pool: flow control', () => {
  it('pause/resume through a 64 MiB response: nothing delivered while paused, the server is held back', async () => {
    const TOTAL = 64 * 1024 * 1024;
    const block = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    const srv = await httpServer((_req, res) => {
      res.setHeader('content-length', TOTAL);
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += block.length;
          if (!res.write(block)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    });
    const p = pool(srv.port);
    let received = 0;
    let chunks = 0;
    let dataWhilePaused = 0;
    let paused = false;
    let maxLead = 0;
    let pauses = 0;
    const { result } = send(p, {}, {
      countOnly: true,
      onData: (chunk, ctl) => {
        if (paused) dataWhilePaused++;
        received += chunk.length;
        if (++chunks % 128 === 0 && pauses < 6) {
          pauses++;
          paused = true;
          ctl.pause();
          // Long enough for the server to fill every buffer between us if it is not held back.
          setTimeout(() => {
            maxLead = Math.max(maxLead, sent - received);
            paused = false;
            ctl.resume();
          }, 150);
        }
      },
    });
    const r = await result;
    expect(r.error).toBeNull();
    expect(r.bytes).toBe(TOTAL);
    expect(pauses).toBe(6);
    expect(dataWhilePaused).toBe(0);
    // Kernel socket buffers + one stream buffer on each side; a client buffering while paused would let the server run ahead by all of it.
    expect(maxLead).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);

  it('pause in the middle of a multi-chunk read holds the rest until resume', async () => {
    // One write with several chunks: pausing after the first must stop delivery.
    const srv = await fixed('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n');
    const p = pool(srv.port);
    const seen: string[] = [];
    let ctlRef: H1Control | null = null;
    const { result } = send(p, {}, { onData: (c, ctl) => { seen.push(c.toString()); if (seen.length === 1) { ctlRef = ctl; ctl.pause(); } } });
    await waitFor('seen.length > 0', () => seen.length > 0);
    await sleep(50); // nothing more may arrive while paused
    expect(seen).toEqual(['a']);
    ctlRef!.resume();
    const r = await result;
    expect(r.error).toBeNull();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect((await get(p)).status).toBe(200);
    expect(srv.connections).toBe(1);
  });
});

describe('H1Pool: https', () => {
  it('GET over TLS with keep-alive (self-signed, rejectUnauthorized: false) and refusal when verifying', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h1-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    let connections = 0;
    const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('secure'));
    server.on('secureConnection', () => { connections++; });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => { server.closeAllConnections(); return new Promise((r) => server.close(r)); });
    const port = (server.address() as net.AddressInfo).port;
    const p = new H1Pool(`https://127.0.0.1:${port}`, { ...baseOpts, tls: { rejectUnauthorized: false, servername: 'localhost' } });
    cleanups.push(() => p.destroy());
    expect((await get(p)).body.toString()).toBe('secure');
    expect((await get(p)).body.toString()).toBe('secure');
    expect(connections).toBe(1);
    const strict = new H1Pool(`https://127.0.0.1:${port}`, baseOpts);
    cleanups.push(() => strict.destroy());
    const r = await get(strict);
    expect(r.error?.code).toMatch(/SELF_SIGNED|CERT/);
    expect(r.error?.requestSent).toBe(false);
  });
});
