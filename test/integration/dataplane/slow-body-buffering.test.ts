// Slow request bodies (R.U.D.Y. / slow POST): a body with a Content-Length within
// server.limits.buffer_request_body_bytes (64 KiB) is read whole before an upstream connection is
// taken, on the uWS and the HTTP/2 listener, so senders that trickle their bodies do not take the
// upstream pool from other clients; what never completes gets 408 and never reaches the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import type { ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { fixtureIssuer, startFixtureJwks, startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';
import { sourceValue } from '../../../node/metrics/index.js';

/** Upstream connections per target: fewer than the slow senders. */
const POOL = 2;
const SLOW = 6;
/** What a slow sender is given to finish its body (→ 408): every test with slow senders waits it out. */
const REQUEST_MS = 6_000;
const LIMIT = 64 * 1024; // the default server.limits.buffer_request_body_bytes

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('slow request bodies and the upstream pool', () => {
  let app: ScriptedUpstream;
  let proxy: ProxyProcess;
  let h2Port: number;

  beforeAll(async () => {
    // answers what it received: the Content-Length it was sent, the bytes and their digest
    app = await startScriptedUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const b = Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ contentLength: req.headers['content-length'] ?? null, chunked: req.headers['transfer-encoding'] ?? null, bytes: b.length, sha: sha(b) }));
      });
    });
    proxy = await startProxy(baseConfig(app.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, timeouts: { request_ms: REQUEST_MS } },
      upstreams: { app: { targets: [app.url], pool: { connections: POOL } } },
    }), { env: ADMIN_ENV });
    h2Port = http2PortOf(proxy.logs());
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
  });

  async function metric(key: string): Promise<number> {
    const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return Math.max(0, sourceValue(await r.body.text(), key)); // absent: 0
  }

  const slowSeen = (path: string): number => app.seen.filter((s) => s.url === path).length;

  /** Until the proxy has taken every slow sender's head: read whole (counted) — or, streamed, the pool is taken. */
  async function slowSendersIn(path: string, key: string, before: number): Promise<void> {
    await waitFor(`${SLOW} slow senders taken in`, async () => slowSeen(path) >= POOL || (await metric(key)) - before >= SLOW, 10_000, { everyMs: 100 });
  }

  it('uWS listener: a client gets its answer while more slow senders than the pool has connections are connected; they get 408 and the upstream saw none', async () => {
    const before = await metric('listener.request_bodies_buffered_total');
    // one byte of 60 000 each, the rest never sent
    const slow = Array.from({ length: SLOW }, () => rawRequest(proxy.port, requestText('POST', '/slow-h1', [['Content-Length', '60000']], 'a'), { timeoutMs: REQUEST_MS + 10_000 }));
    await slowSendersIn('/slow-h1', 'listener.request_bodies_buffered_total', before);

    const normal = await rawRequest(proxy.port, requestText('POST', '/normal', [['Content-Length', '5']], 'hello'), { timeoutMs: 5_000 });
    expect(normal.status).toBe(200);
    expect(JSON.parse(normal.body.toString())).toMatchObject({ bytes: 5, contentLength: '5' });

    for (const r of await Promise.all(slow)) {
      expect(r.status).toBe(408);
      expect(JSON.parse(r.body.toString())).toMatchObject({ code: 'PORTCULLIS_ERR_REQUEST_TIMEOUT' });
    }
    expect(slowSeen('/slow-h1')).toBe(0);
  }, 40_000);

  it('HTTP/2 listener: a client gets its answer while more slow streams than the pool has connections are open; they get 408 and the upstream saw none', async () => {
    const before = await metric('http2.request_bodies_buffered_total');
    const origin = `http://127.0.0.1:${h2Port}`;
    const attacker: ClientHttp2Session = await h2Connect(origin);
    const client: ClientHttp2Session = await h2Connect(origin);
    try {
      const slow = Array.from({ length: SLOW }, () => new Promise<number>((resolve) => {
        const s = attacker.request({ ':method': 'POST', ':path': '/slow-h2', 'content-length': '60000' }, { endStream: false });
        let status = 0;
        s.on('response', (h) => { status = Number(h[':status']); });
        s.on('error', () => { /* the reset after the answer */ });
        s.on('data', () => { /* drained */ });
        s.on('close', () => resolve(status));
        s.write('a');
      }));
      await slowSendersIn('/slow-h2', 'http2.request_bodies_buffered_total', before);

      const normal = await Promise.race([
        h2Request(client, { ':method': 'POST', ':path': '/normal', 'content-length': '5' }, 'hello'),
        new Promise<null>((r) => setTimeout(() => r(null), 5_000)),
      ]);
      expect(normal?.status).toBe(200);
      expect(normal?.json).toMatchObject({ bytes: 5 });

      expect(await Promise.all(slow)).toEqual(Array.from({ length: SLOW }, () => 408));
      expect(slowSeen('/slow-h2')).toBe(0);
    } finally {
      attacker.destroy();
      client.close();
    }
  }, 40_000);

  it('a body read whole reaches the upstream byte-exact with its Content-Length, at the limit and one byte over (streamed)', async () => {
    for (const size of [LIMIT, LIMIT + 1]) {
      const before = await metric('listener.request_bodies_buffered_total');
      const body = randomBytes(size);
      // the head, then the body in three reads: the buffer is filled across uWS's chunks
      const head = requestText('POST', `/exact-${size}`, [['Content-Length', String(size)]]);
      const r = await rawRequest(proxy.port, [head, body.subarray(0, 1000), body.subarray(1000, 40_000), body.subarray(40_000)], { gapMs: 30, timeoutMs: 10_000 });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toEqual({ contentLength: String(size), chunked: null, bytes: size, sha: sha(body) });
      expect((await metric('listener.request_bodies_buffered_total')) - before).toBe(size === LIMIT ? 1 : 0);
    }
    for (const size of [LIMIT, LIMIT + 1]) {
      const before = await metric('http2.request_bodies_buffered_total');
      const body = randomBytes(size);
      const session = await h2Connect(`http://127.0.0.1:${h2Port}`);
      try {
        const r = await h2Request(session, { ':method': 'POST', ':path': `/exact-h2-${size}`, 'content-length': String(size) }, body);
        expect(r.status).toBe(200);
        expect(r.json).toEqual({ contentLength: String(size), chunked: null, bytes: size, sha: sha(body) });
      } finally { session.close(); }
      expect((await metric('http2.request_bodies_buffered_total')) - before).toBe(size === LIMIT ? 1 : 0);
    }
  }, 40_000);
});

describe('the budget for bodies read whole (server.limits.buffer_request_body_total_bytes)', () => {
  let app: ScriptedUpstream;
  let jwks: ScriptedUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    app = await startScriptedUpstream((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200); res.end('ok'); });
    });
    jwks = await startFixtureJwks();
    proxy = await startProxy(baseConfig(app.url, {
      // room for two bodies of 60 000 bytes still arriving
      server: { listen: { host: '127.0.0.1', port: 0 }, limits: { buffer_request_body_total_bytes: 120_000 } },
      issuers: { fx: fixtureIssuer(jwks.url) },
      routes: [
        { name: 'secured', match: { path: '/secured/*' }, upstream: 'app', auth: {} },
        { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
      ],
    }), { env: ADMIN_ENV });
    await waitReady(proxy, 30_000); // a bound: the JWKS fetch at start is late on a loaded machine
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
    await jwks?.close();
  });

  async function metric(key: string): Promise<number> {
    const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return Math.max(0, sourceValue(await r.body.text(), key));
  }

  it('a request refused on its head (no token) never has its body read whole: 401, nothing buffered or forwarded', async () => {
    const r = await rawRequest(proxy.port, requestText('POST', '/secured/x', [['Content-Length', '60000']], 'c'.repeat(60_000)), { timeoutMs: 5_000 });
    expect(r.status).toBe(401);
    expect(await metric('listener.request_bodies_buffered_total')).toBe(0);
    expect(await metric('listener.request_body_buffer_overflow_total')).toBe(0);
    expect(app.seen.filter((x) => x.url === '/secured/x')).toEqual([]);
  });

  it('past the budget a body streams as before (counted); a sender that leaves gives its share back', async () => {
    const socks: Socket[] = [];
    try {
      // three clients (a client address holds at most its share of the budget: body-buffer-client-share.test.ts)
      for (let i = 0; i < 3; i++) {
        const s = connect({ port: proxy.port, host: '127.0.0.1', localAddress: `127.0.0.${i + 1}` });
        s.on('error', () => { /* closed by the test */ });
        s.write(requestText('POST', '/over-budget', [['Content-Length', '60000']], 'a'));
        socks.push(s);
      }
      // two read whole, the third streamed: it reached the upstream, its first byte with it
      await waitFor('two bodies buffered, one over the budget', async () => (await metric('listener.request_bodies_buffered_total')) === 2 && (await metric('listener.request_body_buffer_overflow_total')) === 1, 10_000, { everyMs: 100 });
      await waitFor('the streamed body at the upstream', () => app.seen.filter((x) => x.url === '/over-budget').length === 1, 10_000);
    } finally {
      for (const s of socks) s.destroy();
    }
    // their budget given back when they left: the next body is read whole again
    // (until the proxy has seen them leave: a body sent before that overflows, and the next one is tried)
    await waitFor('a body within the budget read whole after the senders left', async () => {
      const buffered = await metric('listener.request_bodies_buffered_total');
      const r = await rawRequest(proxy.port, requestText('POST', '/after', [['Content-Length', '60000']], 'b'.repeat(60_000)), { timeoutMs: 5_000 });
      expect(r.status).toBe(200);
      return (await metric('listener.request_bodies_buffered_total')) === buffered + 1;
    }, 10_000, { everyMs: 200 });
  }, 30_000);
});
