// An HTTP/2 upstream whose connection is reset after it received a request (it crashed on it, or
// its host dropped the connection) is not a connect failure: the request was sent, so it is not
// sent again to another target (README "Retries": only when the connection failed before the
// request was sent), and it counts toward the target's ejection as a reset, not as a connect failure. The one retry
// left is HTTP/1.1's stale keep-alive race: a session that carried earlier streams dies under a
// GET before any response byte — once more, on a fresh session to the same target.
import { it, expect, beforeAll, afterAll } from 'vitest';
import http2, { type Http2Server } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { bearer, call, waitReady } from '../auth/tokens-helpers.js';

interface Recorder { port: number; paths: string[]; close(): Promise<void> }

/**
 * An h2c upstream recording each request's path; `reset`: it then resets its TCP connections
 * instead of answering; `stale`: it answers a session's first stream and resets on its second.
 */
async function h2Upstream(reset: boolean, stale = false): Promise<Recorder> {
  const server: Http2Server = http2.createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const rec: Recorder = { port: 0, paths: [], close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => { server.close(() => r()); }); } };
  server.on('stream', (stream, headers) => {
    stream.on('error', () => { /* the resets this test causes */ });
    rec.paths.push(String(headers[':path']));
    if (stale && (stream.id ?? 0) > 1) { for (const s of sockets) s.resetAndDestroy(); return; }
    if (reset) setTimeout(() => { for (const s of sockets) s.resetAndDestroy(); }, 20);
    else { stream.respond({ ':status': 200 }); stream.end('answered by the other target'); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  rec.port = (server.address() as AddressInfo).port;
  return rec;
}

let crashing: Recorder;
let healthy: Recorder;
let stale: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  [crashing, healthy, stale] = await Promise.all([h2Upstream(true), h2Upstream(false), h2Upstream(false, true)]);
  const crashUrl = `http://127.0.0.1:${crashing.port}`;
  proxy = await startProxy(baseConfig(crashUrl, {
    upstreams: {
      // round robin starts at the first target: the crashing one
      two: { targets: [crashUrl, `http://127.0.0.1:${healthy.port}`], protocol: 'h2c' },
      // max_ejected_percent 100: its only target may be ejected (at the default 50 % a lone target never is)
      one: { targets: [crashUrl], protocol: 'h2c', eject: { consecutive_failures: 2, duration_ms: 60_000, max_ejected_percent: 100 } },
      stale: { targets: [`http://127.0.0.1:${stale.port}`], protocol: 'h2c', pool: { keep_alive_ms: 60_000 } },
    },
    routes: [
      { name: 'two', match: { path: '/two/*' }, upstream: 'two', auth: 'none' },
      { name: 'one', match: { path: '/one/*' }, upstream: 'one', auth: 'none' },
      { name: 'stale', match: { path: '/stale/*' }, upstream: 'stale', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([crashing?.close(), healthy?.close(), stale?.close()]);
});

it('a GET the upstream received before its connection was reset is answered 502, not sent to another target', async () => {
  const r = await rawRequest(proxy.port, requestText('GET', '/two/query-of-death'), { timeoutMs: 5_000 });
  expect(crashing.paths).toContain('/two/query-of-death');
  expect(healthy.paths).not.toContain('/two/query-of-death');
  expect(r.status).toBe(502);
});

it('resets after the request was sent count toward ejection as resets, not as connect failures', async () => {
  for (let i = 0; i < 3; i++) expect((await rawRequest(proxy.port, requestText('GET', `/one/r${i}`), { timeoutMs: 5_000 })).status).toBe(502);
  expect(crashing.paths).toEqual(expect.arrayContaining(['/one/r0', '/one/r1', '/one/r2']));
  const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
  // a target that resets every request is ejected (2 in a row here); its only target is still tried (panic mode)
  expect(m.text).toMatch(/portcullis_upstream_ejections_total\{upstream="one"\} 1/);
  expect(m.text).not.toMatch(/portcullis_upstream_errors_total\{upstream="one",kind="connect"\}/);
});

it('a GET on a session that carried earlier streams, reset before any response byte, is sent once more on a fresh session', async () => {
  expect((await rawRequest(proxy.port, requestText('GET', '/stale/first'), { timeoutMs: 5_000 })).status).toBe(200);
  const r = await rawRequest(proxy.port, requestText('GET', '/stale/second'), { timeoutMs: 5_000 });
  expect(r.status).toBe(200);
  expect(stale.paths).toEqual(['/stale/first', '/stale/second', '/stale/second']);
  // a POST is never sent twice
  const p = await rawRequest(proxy.port, requestText('POST', '/stale/post', [], 'x'), { timeoutMs: 5_000 });
  expect(p.status).toBe(502);
  expect(stale.paths.filter((x) => x === '/stale/post')).toHaveLength(1);
});
