// An upstream that reads a request on a reused keep-alive connection and then closes it without
// answering (the stale keep-alive race, or a crash mid-request): an idempotent request without a
// body is sent once more on a fresh connection; POST, PATCH and any request with a body never are.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Client } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';

let upstream: Server;
let proxy: ProxyProcess;
let client: Client;
/** Request lines the upstream read, with the request's number on its connection. */
const seen: string[] = [];

beforeAll(async () => {
  // the first request on a connection is answered keep-alive; every later one is read, then the socket is destroyed
  upstream = createServer((s: Socket) => {
    let n = 0;
    let buf = '';
    s.on('error', () => { /* the proxy may close first */ });
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const cl = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + cl) return;
        buf = buf.slice(end + 4 + cl);
        n++;
        seen.push(`${head.slice(0, head.indexOf(' HTTP/'))} #${n}`);
        if (n > 1) { s.destroy(); return; }
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = await startProxy(baseConfig(url, { upstreams: { app: { targets: [url], pool: { connections: 1 } } } }), { env: ADMIN_ENV });
  client = new Client(proxy.url);
});

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await new Promise((r) => upstream?.close(r));
});

async function send(method: string, path: string, body?: string): Promise<number> {
  const r = await client.request({ method: method as 'GET', path, ...(body === undefined ? {} : { body }) });
  await r.body.text();
  return r.statusCode;
}

/** Warm a kept-alive upstream connection, then send the request under test on it; what the upstream read of it. */
async function onReused(method: string, body?: string): Promise<{ status: number; reads: string[] }> {
  // a fresh upstream connection answers its first request: open one, so the next request reuses it
  await send('GET', '/warm');
  const path = `/t/${method}/${body === undefined ? 'none' : body.length}`;
  const status = await send(method, path, body);
  return { status, reads: seen.filter((l) => l.startsWith(`${method} ${path} `)) };
}

describe('the upstream read the request on a reused connection, then closed it without an answer', () => {
  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) {
    it(`${method} without a body: sent again once on a fresh connection → answered`, async () => {
      const r = await onReused(method);
      expect(r.status).toBe(200);
      expect(r.reads).toEqual([`${method} /t/${method}/none #2`, `${method} /t/${method}/none #1`]);
    });
  }

  for (const [method, body] of [['POST', undefined], ['POST', 'abc'], ['PATCH', 'abc'], ['PUT', 'abc']] as const) {
    it(`${method} ${body === undefined ? 'without' : 'with'} a body: never sent twice → 502`, async () => {
      const r = await onReused(method, body);
      expect(r.status).toBe(502);
      expect(r.reads).toHaveLength(1);
    });
  }
});
