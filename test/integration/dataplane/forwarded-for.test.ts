// server.forwarded.x_forwarded_for through a real `portcullis serve`: `off` sends no
// X-Forwarded-For (a client's copy included) and the access log still names the client;
// `keep` (behind a trusted front proxy) passes the front proxy's value unchanged. The default
// (`append`) is asserted in passthrough.test.ts; here also on a listener bound to `::`, where uWS
// reports IPv6 (and IPv4-mapped) client addresses in its long form.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';

interface Echo { headers: Record<string, string> }

let echo: EchoUpstream;
let off: ProxyProcess;
let keep: ProxyProcess;
let dual: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream({ name: 'app' });
  [off, keep, dual] = await Promise.all([
    startProxy(baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, forwarded: { x_forwarded_for: 'off' } } }), { env: ADMIN_ENV }),
    startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: true, forwarded: { x_forwarded_for: 'keep' } },
      log: { level: 'info', access: false },
    }), { env: ADMIN_ENV }),
    startProxy(baseConfig(echo.url, { server: { listen: { host: '::', port: 0 } } }), { env: ADMIN_ENV }),
  ]);
});

afterAll(async () => {
  await Promise.all([off?.stop(), keep?.stop(), dual?.stop()]);
  await echo?.close();
});

async function echoVia(p: ProxyProcess | string, path: string, headers: Record<string, string> = {}): Promise<Echo> {
  const r = await request(`${typeof p === 'string' ? p : p.url}${path}`, { headers });
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

describe('append on a listener bound to ::', () => {
  // the address text is the proxy's own formatting of uWS's binary address: it must stay uWS's text
  it('an IPv6 client and an IPv4 client appear as uWS writes them, in X-Forwarded-For and in the access log', async () => {
    const v6 = '0000:0000:0000:0000:0000:0000:0000:0001';
    const v4 = '0000:0000:0000:0000:0000:ffff:7f00:0001';
    expect((await echoVia(`http://[::1]:${dual.port}`, '/dual-v6')).headers['x-forwarded-for']).toBe(v6);
    expect((await echoVia(`http://127.0.0.1:${dual.port}`, '/dual-v4', { 'x-forwarded-for': '203.0.113.7' })).headers['x-forwarded-for']).toBe(`203.0.113.7, ${v4}`);
    await expect.poll(() => dual.logs().find((l) => l.msg === 'request' && l.path === '/dual-v6')?.client, { timeout: 5_000 }).toBe(v6);
    await expect.poll(() => dual.logs().find((l) => l.msg === 'request' && l.path === '/dual-v4')?.client, { timeout: 5_000 }).toBe(v4);
  });
});
