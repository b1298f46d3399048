// A client that opens streams for large responses and never opens its flow-control window, keeping
// its session alive with PINGs: each stalled stream held an upstream connection for as long as the
// session lived, so a few sessions took the whole pool and other clients got no answer.
// server.http2.stalled_response_ms now resets such a stream and cancels its upstream request.
import { it, expect, beforeAll, afterAll } from 'vitest';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf, publicH2Config } from '../../helpers/h2-client.js';
import { bearer, call, sample, waitReady } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;

beforeAll(async () => {
  echo = await startEchoUpstream();
  const cfg = publicH2Config(echo.url) as { server: { http2: Record<string, unknown> }; upstreams: { app: Record<string, unknown> } };
  // two upstream connections: two stalled streams take the whole pool
  cfg.upstreams.app.pool = { connections: 2 };
  cfg.server.http2.stalled_response_ms = 2_000;
  cfg.server.http2.idle_timeout_ms = 3_000; // the attacker's PINGs keep its session from idling
  proxy = await startProxy(cfg, { env: ADMIN_ENV });
  await waitReady(proxy);
  port = http2PortOf(proxy.logs());
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

it('streams whose client never reads (window 0, session kept alive by PINGs) are reset and free the upstream pool for other clients', async () => {
  const attacker: ClientHttp2Session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  attacker.on('error', () => { /* closed at the end */ });
  const streams: ClientHttp2Stream[] = [];
  const heads: number[] = [];
  for (let i = 0; i < 2; i++) {
    const s = attacker.request({ ':method': 'GET', ':path': `/public/bytes/${64 * 2 ** 20}` });
    s.on('error', () => { /* reset by the proxy */ });
    s.on('response', (h) => heads.push(Number(h[':status'])));
    s.pause();
    streams.push(s);
  }
  const pinger = setInterval(() => { if (!attacker.destroyed) attacker.ping(() => { /* pong */ }); }, 500);
  try {
    // both streams hold an upstream connection: their heads arrive, their bodies cannot
    for (let i = 0; i < 100 && heads.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(heads).toEqual([200, 200]);
    // another client, same upstream: answered once the stalled streams are cut (before: never, the session lived on)
    const honest = await Promise.race([
      h2Fetch(`http://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/public/honest' }).then((r) => String(r.status)),
      new Promise<string>((r) => setTimeout(() => r('no answer within 20 s'), 20_000)),
    ]);
    expect(honest).toBe('200');
    // the other stalled stream is cut on its own clock (it may have stalled a little later)
    for (let i = 0; i < 200 && !streams.every((s) => s.closed); i++) await new Promise((r) => setTimeout(r, 50));
    expect(streams.map((s) => s.rstCode)).toEqual([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
    expect(attacker.destroyed, 'the session itself is not closed: only its stalled streams').toBe(false);
    const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
    expect(sample(m.text, 'portcullis_responses_incomplete_total{route="public",outcome="truncated",reason="slow_reader"}')).toBe(2);
  } finally {
    clearInterval(pinger);
    attacker.destroy();
  }
}, 40_000);

it('a slow client that keeps reading is not cut', async () => {
  const s = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 65_535 } });
  s.on('error', () => { /* reported by the request */ });
  try {
    const got = await new Promise<{ bytes: number; rst: number }>((resolve) => {
      const r = s.request({ ':method': 'GET', ':path': `/public/bytes/${4 * 2 ** 20}` });
      let bytes = 0;
      r.on('data', (c: Buffer) => { bytes += c.length; r.pause(); setTimeout(() => r.resume(), 5); });
      r.on('error', () => { /* rstCode */ });
      r.on('close', () => resolve({ bytes, rst: r.rstCode ?? 0 }));
    });
    expect(got).toEqual({ bytes: 4 * 2 ** 20, rst: 0 });
  } finally {
    s.destroy();
  }
}, 60_000);
