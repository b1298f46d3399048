// H1Pool with `pipelining` > 1 against a real node:http server (which answers pipelined requests
// in order) and raw net servers that close mid-pipeline or break framing: every caller gets its
// own response or an error, never another caller's; one write per connection per turn; a
// caller's abort keeps the connection in step; head-of-line waiting and its deadline; the turn's
// batch only as deep as the upstream's response time allows.
import { describe, it, expect, afterEach } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { H1Control, H1Error, H1PoolOptions, H1Request } from '../../../node/upstream/h1-client.js';
import { H1Pool } from '../../../node/upstream/h1-pool.js';
import { waitFor } from '../../helpers/wait.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const baseOpts: H1PoolOptions = { connections: 1, keepAliveMs: 10_000, connectTimeoutMs: 2_000, headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000, pipelining: 8 };

function pool(port: number, opts: Partial<H1PoolOptions> = {}): H1Pool {
  const p = new H1Pool(`http://127.0.0.1:${port}`, { ...baseOpts, ...opts });
  cleanups.push(() => p.destroy());
  return p;
}

interface Result { status: number; body: string; error: H1Error | null }

function send(p: H1Pool, path: string, req: Partial<H1Request> = {}): { ctl: H1Control; result: Promise<Result> } {
  const r: Result = { status: 0, body: '', error: null };
  let resolve!: (r: Result) => void;
  const result = new Promise<Result>((res) => { resolve = res; });
  const ctl = p.request({ method: 'GET', path, headers: ['host', 'upstream'], body: null, contentLength: 0, ...req }, {
    onResponseStart(status) { r.status = status; },
    onResponseData(chunk) { r.body += chunk.toString('latin1'); },
    onResponseEnd() { resolve(r); },
    onError(err) { r.error = err; resolve(r); },
  });
  return { ctl, result };
}


interface Server { port: number; connections: number; chunks: string[][]; requests: string[] }

/** node:http echoing the request path as the body, after `delay(path)` ms. */
async function echoServer(delay: (path: string) => number = () => 0): Promise<Server> {
  const st: Server = { port: 0, connections: 0, chunks: [], requests: [] };
  const server = http.createServer((req, res) => {
    st.requests.push(req.url!);
    setTimeout(() => res.end(req.method === 'HEAD' ? undefined : req.url), delay(req.url!));
  });
  server.on('connection', () => { st.connections++; });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  st.port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => { server.closeAllConnections(); return new Promise((r) => server.close(r)); });
  return st;
}

const ok = (path: string, extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n${extra}\r\n${path}`;

/**
 * Raw TCP server: `answer(socket, path, n, conn)` for each request head, n from 1 per connection,
 * conn from 1; `chunks[conn-1]` records every read as it arrived (to count the client's writes).
 */
async function rawServer(answer: (s: net.Socket, path: string, n: number, conn: number) => void): Promise<Server> {
  const st: Server = { port: 0, connections: 0, chunks: [], requests: [] };
  const server = net.createServer((s) => {
    const conn = ++st.connections;
    const reads: string[] = [];
    st.chunks.push(reads);
    s.on('error', () => {});
    let buf = '';
    let n = 0;
    s.on('data', (d) => {
      reads.push(d.toString('latin1'));
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i !== -1; i = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, i + 4);
        buf = buf.slice(i + 4);
        const path = head.split(' ')[1]!;
        st.requests.push(path);
        answer(s, path, ++n, conn);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  st.port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => new Promise((r) => { server.close(r); }));
  return st;
}

/** Warm one connection so the next requests find it connected (pipelining starts on a connected socket). */
async function warm(p: H1Pool): Promise<void> {
  const r = await send(p, '/warm').result;
  expect(r.error).toBeNull();
}

describe('H1Pool pipelining', () => {
  it('answers each of many pipelined requests with its own response, in one write, on one connection (node:http)', async () => {
    const srv = await echoServer((path) => (path.endsWith('1') ? 40 : Math.floor(Math.random() * 10)));
    const p = pool(srv.port);
    await warm(p);
    const paths = Array.from({ length: 8 }, (_, i) => `/r${i}`);
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.error)).toEqual(paths.map(() => null));
    expect(results.map((r) => r.body)).toEqual(paths);
    expect(srv.connections).toBe(1);
  });

  it('writes the requests of one turn to one connection in a single write', async () => {
    const srv = await rawServer((s, path) => s.write(ok(path)));
    const p = pool(srv.port);
    await warm(p);
    const paths = ['/a', '/b', '/c', '/d'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.body)).toEqual(paths);
    expect(srv.connections).toBe(1);
    // read 1: the warm-up request; read 2: all four heads at once
    expect(srv.chunks[0]!.length).toBe(2);
    expect(srv.chunks[0]![1]!.match(/^GET /gm)).toHaveLength(4);
  });

  it('keeps requests with a body, and unsafe methods, off a connection with others in flight', async () => {
    const srv = await echoServer((path) => (path === '/slow' ? 60 : 0));
    const p = pool(srv.port, { connections: 2 });
    await warm(p);
    const slow = send(p, '/slow');
    const del = send(p, '/del', { method: 'DELETE' });
    const after = send(p, '/after');
    const rs = await Promise.all([slow.result, del.result, after.result]);
    expect(rs.map((r) => r.body)).toEqual(['/slow', '/del', '/after']);
    // DELETE went to its own connection, not behind /slow
    expect(srv.connections).toBe(2);
  });

  it('retries the requests behind a response once on a fresh connection when the upstream closes mid-pipeline', async () => {
    // Connection 1 answers its first request and closes; later connections answer everything.
    const srv = await rawServer((s, path, n, conn) => {
      if (conn === 1 && n === 2) { s.write(ok(path)); s.end(); return; }
      if (conn === 1 && n > 2) return;
      s.write(ok(path));
    });
    const p = pool(srv.port, { connections: 4 });
    await warm(p); // n === 1 on connection 1
    const paths = ['/a', '/b', '/c', '/d'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.error)).toEqual(paths.map(() => null));
    expect(results.map((r) => r.body)).toEqual(paths);
  });

  it('answers 502-class errors, never another response, when every connection dies mid-pipeline', async () => {
    // After the warm-up, every connection answers one request and closes: the ones behind it
    // are retried once, then fail.
    const srv = await rawServer((s, path) => {
      if (path === '/warm') { s.write(ok(path)); return; }
      s.write(ok(path));
      s.end();
      s.removeAllListeners('data');
    });
    const p = pool(srv.port, { connections: 1 });
    await warm(p);
    const paths = ['/a', '/b', '/c', '/d', '/e'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    for (const [i, r] of results.entries()) {
      if (r.error === null) expect(r.body).toBe(paths[i]);
      else expect(r.error.code).toMatch(/^H1_RESET$/);
    }
    expect(results[0]!.body).toBe('/a');
    expect(results[1]!.body).toBe('/b'); // its retry went alone on a fresh connection, which this server answers
    // each request was sent at most twice (one retry)
    for (const path of paths) expect(srv.requests.filter((x) => x === path).length).toBeLessThanOrEqual(2);
  });

  it('fails the response that breaks framing and the ones behind it never get its bytes', async () => {
    // Connection 1: the second response carries 5 bytes more than its content-length says.
    const srv = await rawServer((s, path, n, conn) => {
      if (conn === 1 && n === 2) { s.write(ok(path) + 'XXXXX'); return; }
      s.write(ok(path));
    });
    const p = pool(srv.port, { connections: 2 });
    await warm(p);
    const paths = ['/a', '/b', '/c', '/d'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results[0]!.body).toBe('/a'); // its own bytes were framed right
    for (const [i, r] of results.entries()) {
      if (r.error === null) expect(r.body).toBe(paths[i]);
      else expect(r.error.code).toMatch(/^H1_(PROTOCOL|RESET)$/);
    }
    expect(results.some((r) => r.error !== null)).toBe(true); // the garbage was seen as a response: an error, not a body
  });

  it('retries the ones behind a `connection: close` response on another connection', async () => {
    const srv = await rawServer((s, path, n, conn) => {
      if (conn === 1 && n === 2) { s.write(ok(path, 'connection: close\r\n')); return; }
      if (conn === 1 && n > 2) return; // it said close; it never answers these
      s.write(ok(path));
    });
    const p = pool(srv.port, { connections: 2 });
    await warm(p);
    const paths = ['/a', '/b', '/c'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.error)).toEqual([null, null, null]);
    expect(results.map((r) => r.body)).toEqual(paths);
  });

  it('a caller aborting a pipelined request leaves the connection in step: its response is read and dropped', async () => {
    const srv = await echoServer((path) => (path === '/a' ? 50 : 0));
    const p = pool(srv.port);
    await warm(p);
    const a = send(p, '/a');
    const b = send(p, '/b');
    const c = send(p, '/c');
    await waitFor('srv.requests.length >= 4', () => srv.requests.length >= 4);
    b.ctl.abort();
    const [ra, rc] = await Promise.all([a.result, c.result]);
    expect(ra.body).toBe('/a');
    expect(rc.body).toBe('/c');
    const d = await send(p, '/d').result;
    expect(d.body).toBe('/d');
    expect(srv.connections).toBe(1); // not torn down by the abort
  });

  it('the head of the line holds the ones behind it, each within its own response deadline', async () => {
    const srv = await echoServer((path) => (path === '/slow' ? 700 : 0));
    const p = pool(srv.port);
    await warm(p);
    const t0 = Date.now();
    const slow = send(p, '/slow');
    const fast = send(p, '/fast');
    const fastWithDeadline = send(p, '/deadline', { headersTimeoutMs: 100 });
    const rf = await fast.result;
    expect(rf.body).toBe('/fast');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650); // answered only after /slow: head-of-line
    const rd = await fastWithDeadline.result;
    expect(rd.error?.code).toBe('H1_HEADERS_TIMEOUT');
    expect((await slow.result).body).toBe('/slow');
    // the timed-out one's response was read and dropped: the connection still matches answers to callers
    expect((await send(p, '/next').result).body).toBe('/next');
    expect(srv.connections).toBe(1);
  });

  it('a fast upstream: requests of one turn share one connection and one write even with idle connections in the pool', async () => {
    const srv = await rawServer((s, path) => s.write(ok(path)));
    const p = pool(srv.port, { connections: 4 });
    for (let i = 0; i < 8; i++) await warm(p); // one window of response times
    const paths = ['/a', '/b'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.body)).toEqual(paths);
    expect(srv.connections).toBe(1);
    expect(srv.chunks[0]!.at(-1)!.match(/^GET /gm)).toHaveLength(2);
  });

  it('a slow upstream: requests that arrive together go to separate connections, not behind each other', async () => {
    // each answer takes 80 ms, past the 50 ms head-of-line budget: a batch would make the 4th wait ~4 × 80 ms
    const srv = await rawServer((s, path) => setTimeout(() => s.write(ok(path)), 80));
    const p = pool(srv.port, { connections: 4 });
    for (let i = 0; i < 8; i++) await warm(p); // one window: even the fastest answer took 80 ms
    const paths = ['/a', '/b', '/c', '/d'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.body)).toEqual(paths);
    expect(srv.connections).toBe(4);
    // at the connection limit, pipelining still applies: 8 more with every connection busy share them
    const more = Array.from({ length: 8 }, (_, i) => `/m${i}`);
    const moreResults = await Promise.all(more.map((path) => send(p, path).result));
    expect(moreResults.map((r) => r.body)).toEqual(more);
    expect(srv.connections).toBe(4);
  });

  it('pipelining 1 (the default) never puts two requests on one connection', async () => {
    const srv = await rawServer((s, path) => setTimeout(() => s.write(ok(path)), 20));
    const p = pool(srv.port, { connections: 3, pipelining: 1 });
    const paths = ['/a', '/b', '/c'];
    const results = await Promise.all(paths.map((path) => send(p, path).result));
    expect(results.map((r) => r.body)).toEqual(paths);
    expect(srv.connections).toBe(3);
  });
});
