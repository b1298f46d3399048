// Behaviour of the echo and cheap upstreams as real HTTP peers, including the
// special paths tests and benches rely on (sizes, statuses, delays, resets, SSE).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'node:http';
import { startEchoUpstream, startCheapUpstream, type EchoUpstream } from '../../../../../cluster/cli/demo/echo-upstream.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Raw GET that reports how the exchange ended instead of throwing. */
function rawGet(url: string): Promise<{ status?: number; bytes: number; error?: string }> {
  return new Promise((resolve) => {
    let status: number | undefined;
    let bytes = 0;
    const req = request(url, { agent: false }, (res) => {
      status = res.statusCode;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status, bytes }));
      res.on('error', (e) => resolve({ status, bytes, error: e.message }));
    });
    req.on('error', (e) => resolve({ status, bytes, error: e.message }));
    req.end();
  });
}

describe('echo-upstream', () => {
  let up: EchoUpstream;
  beforeAll(async () => { up = await startEchoUpstream({ name: 'orders' }); });
  afterAll(async () => { await up.close(); });

  it('echoes method, url, headers and counts body bytes', async () => {
    const before = up.requests;
    const r = await fetch(`${up.url}/any/path?q=1`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'x'.repeat(100_000) });
    expect(r.status).toBe(200);
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ upstream: 'orders', method: 'POST', url: '/any/path?q=1', bodyBytes: 100_000 });
    expect((body.headers as Record<string, string>)['x-test']).toBe('yes');
    expect(up.requests).toBe(before + 1);
    expect(up.lastRequest).toMatchObject({ method: 'POST', url: '/any/path?q=1' });
    const sink = (await (await fetch(`${up.url}/sink`, { method: 'PUT', body: new Uint8Array(12345) })).json()) as { bodyBytes: number };
    expect(sink.bodyBytes).toBe(12345);
  });

  it('serves /bytes/:n with content-length and /chunked/:n without', async () => {
    const sized = await fetch(`${up.url}/bytes/300000`);
    expect(sized.headers.get('content-length')).toBe('300000');
    expect((await sized.arrayBuffer()).byteLength).toBe(300_000);
    const chunked = await fetch(`${up.url}/prefix/chunked/70000`);
    expect(chunked.headers.get('content-length')).toBeNull();
    expect(chunked.headers.get('transfer-encoding')).toBe('chunked');
    expect((await chunked.arrayBuffer()).byteLength).toBe(70_000);
    expect((await (await fetch(`${up.url}/bytes/0`)).arrayBuffer()).byteLength).toBe(0);
  });

  it('answers /status/:code, with no body for 204 and 304', async () => {
    expect((await fetch(`${up.url}/status/503`)).status).toBe(503);
    const empty = await fetch(`${up.url}/status/204`);
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
    expect((await rawGet(`${up.url}/status/304`))).toEqual({ status: 304, bytes: 0 });
  });

  it('delays /slow/:ms and counts a client that leaves /hang as aborted', async () => {
    const t0 = Date.now();
    expect((await fetch(`${up.url}/slow/150`)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);

    const before = up.aborted;
    const ac = new AbortController();
    const pending = fetch(`${up.url}/hang`, { signal: ac.signal }).catch((e: Error) => e);
    await sleep(100);
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    await sleep(100);
    expect(up.aborted).toBe(before + 1);
  });

  it('resets the connection on /reset and mid-body on /reset-mid without counting an abort', async () => {
    const before = up.aborted;
    const reset = await rawGet(`${up.url}/reset`);
    expect(reset.status).toBeUndefined();
    expect(reset.error).toBeDefined();
    const mid = await rawGet(`${up.url}/reset-mid`);
    expect(mid.status).toBe(200);
    expect(mid.error).toBeDefined();
    expect(mid.bytes).toBeGreaterThan(0);
    expect(mid.bytes).toBeLessThan(4 * 64 * 1024);
    expect(up.aborted).toBe(before);
  });

  it('streams server-sent events until the client leaves', async () => {
    const ac = new AbortController();
    const r = await fetch(`${up.url}/sse`, { signal: ac.signal });
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    const reader = r.body!.getReader();
    let text = '';
    while ((text.match(/\n\n/g) ?? []).length < 3) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('data: {"upstream":"orders","n":2}');
    ac.abort();
  });
});

describe('cheap-upstream', () => {
  it('answers 200 hello to anything', async () => {
    const cheap = await startCheapUpstream();
    try {
      const r = await fetch(`${cheap.url}/x`, { method: 'POST', body: 'abc' });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('hello');
      expect(cheap.url).toBe(`http://127.0.0.1:${cheap.port}`);
    } finally {
      await cheap.close();
    }
  });
});
