// The parts of undici and prom-client that Portcullis requires from their own files (to skip the
// rest of each package at start): the same classes the package exports, and undici's request on a
// dispatcher sends what the package's request sends (method, path with query, body, headers).
import { createRequire } from 'node:module';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undici } from '../../node/lazy-packages.js';
import { aggregatorRegistry } from '../../node/metrics/index.js';
import { Counter, Gauge, Registry } from '../../node/metrics/prom-parts.js';

const require = createRequire(import.meta.url);
interface Seen { method: string; url: string; body: string; headers: IncomingHttpHeaders }
let server: Server;
let origin = '';
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { seen.push({ method: req.method!, url: req.url!, body, headers: req.headers }); res.writeHead(201, { 'x-a': '1' }).end('answer'); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('undici parts', () => {
  it('are the classes the package exports', () => {
    const whole = require('undici') as typeof import('undici');
    expect(undici().Agent).toBe(whole.Agent);
    expect(undici().Pool).toBe(whole.Pool);
  });

  it('request on a dispatcher sends what the package request sends', async () => {
    const whole = require('undici') as typeof import('undici');
    const agent = new (undici().Agent)({ connections: 1 });
    try {
      const opts = { method: 'POST' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=abc', dispatcher: agent };
      for (const send of [undici().request, whole.request]) {
        const r = await send(`${origin}/path/x?a=1&b=2`, opts);
        expect(r.statusCode).toBe(201);
        expect(r.headers['x-a']).toBe('1');
        expect(await r.body.text()).toBe('answer');
        const g = await send(new URL(`${origin}/get`), { dispatcher: agent });
        expect(g.statusCode).toBe(201);
        await g.body.dump();
      }
      const [a, b, c, d] = seen.splice(0);
      expect(c).toEqual({ ...a!, headers: c!.headers });
      expect(a).toMatchObject({ method: 'POST', url: '/path/x?a=1&b=2', body: 'token=abc' });
      expect(a!.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(b).toMatchObject({ method: 'GET', url: '/get', body: '' });
      expect(d).toMatchObject({ method: 'GET', url: '/get', body: '' });
    } finally {
      await agent.close();
    }
  });

  it('request without a dispatcher uses the package (its global dispatcher)', async () => {
    const r = await undici().request(`${origin}/global`);
    expect(r.statusCode).toBe(201);
    await r.body.dump();
    expect(seen.splice(0).map((s) => s.url)).toEqual(['/global']);
  });
});

describe('prom-client parts', () => {
  it('are the classes the package exports, and a registry prints their families', async () => {
    const whole = require('prom-client') as typeof import('prom-client');
    expect(Registry).toBe(whole.Registry);
    expect(Counter).toBe(whole.Counter);
    expect(Gauge).toBe(whole.Gauge);
    expect(aggregatorRegistry()).toBe(whole.AggregatorRegistry);
    const reg = new Registry();
    new Counter({ name: 'parts_total', help: 'h', registers: [reg] }).inc(2);
    expect(await reg.metrics()).toContain('parts_total 2');
  });
});
