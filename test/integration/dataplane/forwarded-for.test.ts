// server.forwarded.x_forwarded_for through a real `portcullis serve`: `off` sends no
// X-Forwarded-For (a client's copy included) and the access log still names the client;
// `keep` (behind a trusted front proxy) passes the front proxy's value unchanged. The default
// (`append`) is asserted in passthrough.test.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';

interface Echo { headers: Record<string, string> }

let echo: EchoUpstream;
let off: ProxyProcess;
let keep: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream({ name: 'app' });
  [off, keep] = await Promise.all([
    startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, forwarded: { x_forwarded_for: 'off' } } }), { env: ADMIN_ENV }),
    startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: true, forwarded: { x_forwarded_for: 'keep' } },
      log: { level: 'info', access: false },
    }), { env: ADMIN_ENV }),
  ]);
});

afterAll(async () => {
  await Promise.all([off?.stop(), keep?.stop()]);
  await echo?.close();
});

async function echoVia(p: ProxyProcess, path: string, headers: Record<string, string> = {}): Promise<Echo> {
  const r = await request(`${p.url}${path}`, { headers });
  expect(r.statusCode).toBe(200);
  return JSON.parse(await r.body.text()) as Echo;
}

describe('x_forwarded_for: off', () => {
  it('the upstream gets no X-Forwarded-For, not even the client\'s own; -Proto and -Host are still set', async () => {
    const e = await echoVia(off, '/off-forged', { 'x-forwarded-for': '203.0.113.7', host: 'front.example' });
    expect(e.headers['x-forwarded-for']).toBeUndefined();
    expect(e.headers['x-forwarded-proto']).toBe('http');
    expect(e.headers['x-forwarded-host']).toBe('front.example');
    expect((await echoVia(off, '/off-plain')).headers['x-forwarded-for']).toBeUndefined();
  });

  it('the access log still records the client address', async () => {
    await echoVia(off, '/off-logged');
    await expect.poll(() => off.logs().find((l) => l.msg === 'request' && l.path === '/off-logged')?.client, { timeout: 5_000 }).toBe('127.0.0.1');
  });
});

describe('x_forwarded_for: keep (trust_forwarded: true)', () => {
  it('the front proxy\'s X-Forwarded-For reaches the upstream unchanged, nothing appended', async () => {
    expect((await echoVia(keep, '/keep', { 'x-forwarded-for': '203.0.113.7, 198.51.100.2' })).headers['x-forwarded-for']).toBe('203.0.113.7, 198.51.100.2');
    expect((await echoVia(keep, '/keep-none')).headers['x-forwarded-for']).toBeUndefined();
  });
});
