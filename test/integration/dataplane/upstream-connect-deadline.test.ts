// The route's timeout_ms bounds connecting to the upstream too: a target whose connection never
// completes (TCP accepted, TLS handshake never answered) is answered 504 at the route's timeout.
// Regression: connecting was bounded only by the upstream's connect_ms, so such a route answered
// 502 after connect_ms (10 s here) however short its own timeout_ms was.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

let blackhole: Server;
const open = new Set<Socket>();
let accepted = 0;
let proxy: ProxyProcess;

beforeAll(async () => {
  // accepts TCP and never says a word: a TLS client stays in its handshake for ever;
  // reads (and drops) the ClientHello, so the proxy's close is seen; never answers it
  blackhole = createServer((s) => { accepted++; open.add(s); s.resume(); s.on('close', () => open.delete(s)); s.on('error', () => {}); });
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  const target = `https://127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
  proxy = await startProxy(baseConfig(target, {
    upstreams: { app: { targets: [target], timeouts: { connect_ms: 10_000 } } },
    routes: [{ name: 'short', match: { path: '/*' }, upstream: 'app', auth: 'none', timeout_ms: 300 }],
  }), { env: ADMIN_ENV });
}, 40_000);

afterAll(async () => {
  await proxy?.stop();
  for (const s of open) s.destroy();
  await new Promise<void>((resolve) => blackhole?.close(() => resolve()));
});

describe('connecting counts against the route timeout', () => {
  it('a connection that never completes → 504 at the route timeout_ms, and the proxy drops it', async () => {
    const r = await request(`${proxy.url}/x`, { headersTimeout: 20_000, bodyTimeout: 20_000 })
      .catch((err: Error) => { throw new Error(`no answer from the proxy within 20 s (${err.message})`); });
    const body = await r.body.json() as Record<string, unknown>;
    expect(r.statusCode, JSON.stringify(body)).toBe(504);
    expect(body).toMatchObject({ code: 'PORTCULLIS_ERR_UPSTREAM_TIMEOUT' });
    expect(accepted).toBe(1);
    // the abandoned handshake does not hold a socket until connect_ms
    await waitFor('open.size === 0', () => open.size === 0, 5_000);
  }, 30_000);
});
