// Requests waiting on a slow HTTP/2 (h2c) upstream when a reload replaces its pool: they get
// the upstream's answer (200 and its body) from the retired pool, and the retired pool's session
// closes once they are done (README "In-flight requests finish on the snapshot they started with").
import http2, { type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ENV, baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const SLOW_MS = 1_200;
let up: http2.Http2Server;
let upUrl: string;
const sessions = new Set<ServerHttp2Session>();
let slowHeld = 0; // /slow streams the upstream has received

beforeAll(async () => {
  up = http2.createServer();
  up.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  up.on('stream', (stream, headers) => {
    const wait = String(headers[':path']).startsWith('/slow') ? SLOW_MS : 0;
    if (wait > 0) slowHeld++;
    setTimeout(() => { if (!stream.destroyed) { stream.respond({ ':status': 200, 'content-type': 'text/plain' }); stream.end(`ok ${headers[':path']}`); } }, wait);
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sessions) s.destroy();
  await new Promise<void>((r) => up?.close(() => r()));
});

function config(workers: number, keepAliveMs: number): Record<string, unknown> {
  return baseConfig(upUrl, {
    server: { listen: { host: '127.0.0.1', port: 0 }, workers },
    upstreams: { app: { targets: [upUrl], protocol: 'h2c', pool: { keep_alive_ms: keepAliveMs } } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
  });
}

describe.each([1, 2])('h2c upstream requests across a reload that replaces the pool (workers: %i)', (workers) => {
  let proxy: ProxyProcess;
  beforeAll(async () => { proxy = await startProxy(config(workers, 1_000), { env: ADMIN_ENV }); });
  afterAll(async () => { await proxy?.stop(); });

  it('get the upstream\'s 200 and body; the retired session closes after them', async () => {
    const held = slowHeld;
    const inflight = Array.from({ length: 6 }, (_, i) => call(`${proxy.url}/slow/${i}`));
    // all six wait at the upstream when the reload replaces the pool
    await waitFor('slowHeld - held === 6', () => slowHeld - held === 6, 10_000, { detail: () => 'the six requests at the upstream' });
    await reloadWith(proxy, config(workers, 1_001));
    const replies = await Promise.all(inflight);
    expect(replies.map((x) => `${x.status} ${x.text}`)).toEqual(replies.map((_, i) => `200 ok /slow/${i}`));
    expect((await call(`${proxy.url}/after`)).text).toBe('ok /after');
    // only the new pool's session(s) stay: one per worker at most (the retired ones close after keep_alive_ms)
    await waitFor('the retired sessions to close', () => sessions.size <= workers, 15_000, { everyMs: 100, detail: () => `${sessions.size} sessions open` });
  });
});
