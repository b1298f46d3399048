// The route's timeout_ms bounds the wait for the response head from when the request body has been
// sent, for HTTP/1.1 and HTTP/2 upstreams alike: a client uploading slowly (800 ms for a 300 ms
// deadline) gets the upstream's answer, and an upstream that took the body and never answers gets 504.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer as httpServer, type Server } from 'node:http';
import { createServer as h2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';

let h1: Server;
let h2: Http2Server;
let proxy: ProxyProcess;
const CHUNKS = 8;
const CHUNK = Buffer.alloc(16 * 1024, 97);

beforeAll(async () => {
  // both read the whole body, then answer its length — or, on /silent, never answer
  h1 = httpServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => { if (!req.url!.endsWith('/silent')) res.end(`got ${n}`); });
  });
  h2 = h2Server();
  h2.on('stream', (st, headers) => {
    let n = 0;
    st.on('data', (c: Buffer) => { n += c.length; });
    st.on('error', () => {});
    st.on('end', () => {
      if (String(headers[':path']).endsWith('/silent')) return;
      st.respond({ ':status': 200 });
      st.end(`got ${n}`);
    });
  });
  await Promise.all([new Promise<void>((r) => h1.listen(0, '127.0.0.1', r)), new Promise<void>((r) => h2.listen(0, '127.0.0.1', r))]);
  const h1Url = `http://127.0.0.1:${(h1.address() as AddressInfo).port}`;
  const h2Url = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  proxy = await startProxy(baseConfig(h1Url, {
    upstreams: { one: { targets: [h1Url] }, two: { targets: [h2Url], protocol: 'h2c' } },
    routes: [
      { name: 'h1', match: { path: '/h1/*' }, upstream: 'one', auth: 'none', timeout_ms: 300 },
      { name: 'h2', match: { path: '/h2/*' }, upstream: 'two', auth: 'none', timeout_ms: 300 },
    ],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  h1?.closeAllConnections();
  h1?.close();
  h2?.close();
});

/** POST CHUNKS chunks, one every 100 ms: the upload lasts well past the route's 300 ms. */
async function slowUpload(path: string): Promise<{ status: number; text: string }> {
  async function* body(): AsyncGenerator<Buffer> {
    for (let i = 0; i < CHUNKS; i++) {
      yield CHUNK;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const r = await request(`${proxy.url}${path}`, { method: 'POST', body: Readable.from(body()) });
  return { status: r.statusCode, text: await r.body.text() };
}

describe('the response-head deadline starts when the request body has been sent', () => {
  it.each(['h1', 'h2'])('%s upstream: a slow upload gets the answer, not a 504', async (p) => {
    expect(await slowUpload(`/${p}/upload`)).toEqual({ status: 200, text: `got ${CHUNKS * CHUNK.length}` });
  });

  it.each(['h1', 'h2'])('%s upstream: an upstream that took the body and never answers → 504', async (p) => {
    const r = await slowUpload(`/${p}/silent`);
    expect(r.status).toBe(504);
    expect(JSON.parse(r.text).code).toBe('PORTCULLIS_ERR_UPSTREAM_TIMEOUT');
  });
});
