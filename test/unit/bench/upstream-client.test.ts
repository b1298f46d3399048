// The upstream-client scenario's pure parts (registration, paired CPU saving, ratio over quiet
// rounds) and the switch it relies on: the undici adapter speaks UpstreamClient like H1Pool, so the
// only difference between the two measured processes is the client. No load is generated here;
// the scenario runs end to end with `npm run bench -- upstream-client --quick`.
import { describe, it, expect, afterEach } from 'vitest';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { resolveScenarios } from '../../../bench/run.js';
import { pairedCpuSaving, summariseUpstreamClient, upstreamClientTables } from '../../../bench/upstream-client.bench.js';
import { DEFAULT_FIXED_RATE_FLAGS, DEFAULT_LOAD_FLAGS } from '../../../bench/load.js';
import type { LoadResult } from '../../../bench/stats.js';
import { UndiciClient } from '../../../node/upstream/undici-client.js';
import type { H1Error, H1Request } from '../../../node/upstream/h1-client.js';

const run = (rps: number, cpu: number, foreign = 0): LoadResult => ({ rps, p50: 1, p99: 2, p999: 3, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, cpuUsPerReq: cpu, foreignCores: foreign });

describe('upstream-client scenario: pure parts', () => {
  it('is registered', () => {
    expect(resolveScenarios(['upstream-client'])).toEqual(['upstream-client']);
  });

  it('CPU saved = median of per-round (undici − h1) µs/req; the rps ratio uses quiet rounds only', () => {
    const closed = { direct: [run(9000, 20), run(9000, 20), run(9000, 20)], h1: [run(6000, 40), run(5000, 42, 0.5), run(6100, 39)], undici: [run(5000, 48), run(5200, 47, 0.5), run(5000, 50)] };
    expect(pairedCpuSaving(closed)).toBe(8); // differences 8, 5, 11
    const s = summariseUpstreamClient(closed, { h1: [run(2000, 30)], undici: [run(2000, 36)] });
    expect(s.h1OverUndici).toBeCloseTo((6000 / 5000 + 6100 / 5000) / 2, 5); // round 2 was disturbed
    expect(s.cpuSavedUs.fixedRate).toBe(6);
    const table = upstreamClientTables(s, closed, DEFAULT_LOAD_FLAGS, DEFAULT_FIXED_RATE_FLAGS, []);
    expect(table).toContain('| h1 / undici | 1.21 | 2 of 3 quiet |');
    expect(table).toContain('| closed loop | 8.0 |');
    expect(pairedCpuSaving({ h1: [run(1, 1)] })).toBeNull();
  });
});

describe('the undici adapter behind PORTCULLIS_UPSTREAM_CLIENT=undici', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

  async function server(handler: http.RequestListener): Promise<number> {
    const s = http.createServer(handler);
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    cleanups.push(() => { s.closeAllConnections(); return new Promise((r) => s.close(r)); });
    return (s.address() as AddressInfo).port;
  }

  function send(port: number, req: Partial<H1Request>): Promise<{ status: number; headers: string[]; contentLength: number; body: string; error: H1Error | null }> {
    const c = new UndiciClient(`http://127.0.0.1:${port}`, { connections: 2, keepAliveMs: 1_000, connectTimeoutMs: 1_000, headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000 });
    cleanups.push(() => c.destroy());
    return new Promise((resolve) => {
      const out = { status: 0, headers: [] as string[], contentLength: -2, body: '', error: null as H1Error | null };
      c.request({ method: 'GET', path: '/', headers: ['host', 'x'], body: null, contentLength: 0, ...req }, {
        onResponseStart(status, _t, headers, cl) { Object.assign(out, { status, headers, contentLength: cl }); },
        onResponseData(chunk) { out.body += chunk.toString(); },
        onResponseEnd() { resolve(out); },
        onError(err) { out.error = err; resolve(out); },
      });
    });
  }

  it('relays status, flat lower-case headers, length and body; streams a request body with its length', async () => {
    const port = await server((req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => { res.setHeader('X-Got', `${req.method} ${req.headers['content-length']} ${n}`); res.setHeader('content-length', 2); res.end('ok'); });
    });
    const r = await send(port, { method: 'POST', body: Readable.from([Buffer.from('abc'), Buffer.from('de')]), contentLength: 5 });
    expect(r).toMatchObject({ status: 200, contentLength: 2, body: 'ok', error: null });
    expect(r.headers).toEqual(expect.arrayContaining(['x-got', 'POST 5 5']));
  });

  it('maps failures to the H1 codes the exchange branches on', async () => {
    const refused = await send(1, {});
    expect(refused.error?.code).toBe('ECONNREFUSED');
    expect(refused.error?.requestSent).toBe(false);
    const slow = await server(() => {});
    expect((await send(slow, { headersTimeoutMs: 100 })).error?.code).toBe('H1_HEADERS_TIMEOUT');
  });
});
