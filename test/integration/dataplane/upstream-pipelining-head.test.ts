// Upstream pipelining and HEAD: an upstream that sends a body with its answer to HEAD (a common
// framework bug) would, on a pipelined connection, have that body read as the response to the
// request written behind the HEAD — another client's. With user-controlled content in the body,
// that is response splitting. HEAD is therefore never pipelined: alone on its connection, stray
// bytes after its head are seen and the connection is dropped. A 304 (pipelined: it answers a
// GET) that announces a length ends pipelining on its connection: the requests behind it are
// retried on another.
import { it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, type RawUpstream, requestText, startRawUpstream } from '../../helpers/raw-http.js';

const FORGED = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nFORGED';
let upstream: RawUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  // Answers in request order; the first answer on a connection waits 150 ms, so requests arriving
  // meanwhile are pipelined behind it. HEAD and GET /cond get a head announcing FORGED's length
// (200, 304), then FORGED.
  upstream = await startRawUpstream((s) => {
    let buf = '';
    let ready = false;
    const pending: string[] = [];
    const answer = (head: string): string => {
      const [method, path] = head.split(' ');
      if (method === 'HEAD') return `HTTP/1.1 200 OK\r\nContent-Length: ${FORGED.length}\r\n\r\n${FORGED}`;
      if (path === '/cond') return `HTTP/1.1 304 Not Modified\r\nContent-Length: ${FORGED.length}\r\n\r\n${FORGED}`;
      const body = `own ${path ?? ''}`;
      return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    setTimeout(() => { ready = true; if (!s.destroyed) s.write(pending.map(answer).join('')); }, 150);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        if (ready) s.write(answer(head)); else pending.push(head);
      }
    });
  });
  const url = upstream.url;
  proxy = await startProxy(baseConfig(url, { upstreams: { app: { targets: [url], pipelining: 8, pool: { connections: 1 } } } }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

/** `first`, then (while it waits for its answer) four GETs from other clients; their replies. */
async function behind(first: Promise<unknown>): Promise<Array<{ status: number; body: string }>> {
  await new Promise((r) => setTimeout(r, 30)); // the first request holds the only connection, unanswered
  const gets = await Promise.all([1, 2, 3, 4].map((i) => rawRequest(proxy.port, requestText('GET', `/victim/${i}`), { timeoutMs: 4_000 })));
  await first;
  return gets.map((r) => ({ status: r.status, body: r.body.toString('latin1') }));
}

it('GETs pipelined behind a GET answered 304 with a length and a stray body get their own responses', async () => {
  const first = rawRequest(proxy.port, requestText('GET', '/cond'));
  const gets = await behind(first);
  expect((await first).status).toBe(304);
  const seen = gets.map((r, i) => `${i + 1}: ${r.status} ${r.body}`).join(' | ');
  expect(gets.map((r) => r.body), seen).toEqual([1, 2, 3, 4].map((i) => `own /victim/${i}`));
});

it('GETs that arrive while a HEAD is in flight each get their own response (or an error), never the bytes the upstream sent after the HEAD head', async () => {
  const head = rawRequest(proxy.port, requestText('HEAD', '/file'), { head: true });
  const gets = await behind(head);
  expect((await head).status).toBe(200);
  const seen = gets.map((r, i) => `${i + 1}: ${r.status} ${r.body}`).join(' | ');
  for (const [i, r] of gets.entries()) {
    expect(r.body, seen).not.toContain('FORGED');
    if (r.status === 200) expect(r.body, seen).toBe(`own /victim/${i + 1}`);
  }
  // nothing is left to chance: with HEAD alone on its connection every GET is answered
  expect(gets.map((r) => r.status)).toEqual([200, 200, 200, 200]);
});
