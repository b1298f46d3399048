// A response head reaches the client when the upstream sends it, not with the first body byte:
// a known-length head is written at once. A chunked head cannot be (uWS 20.30 has no way to end
// a chunked head without a body chunk — README "Limitations", uws-framing-limits.test.ts): it is
// counted, and when the upstream then sends nothing for idle_body_ms the client gets a 504
// (nothing was written yet) instead of an empty reply logged as 200.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { requestText, parseResponse } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

const IDLE_BODY_MS = 1_500;
let upstream: ScriptedUpstream;
let proxy: ProxyProcess;
/** Responses the upstream has started and holds, by request path. */
const held = new Map<string, ServerResponse>();

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => {
    req.resume();
    const path = req.url ?? '';
    if (path.startsWith('/known')) res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11, 'x-head': 'early' });
    else if (path.startsWith('/sse')) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders(); // the head leaves the upstream now; the body waits for the test
    held.set(path, res);
  });
  proxy = await startProxy(baseConfig(upstream.url, {
    upstreams: { app: { targets: [upstream.url], timeouts: { idle_body_ms: IDLE_BODY_MS } } },
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

/** A raw client: what arrived so far, and whether the proxy closed the connection. */
function client(path: string): { sock: Socket; text: () => string; closed: () => boolean } {
  const sock = connect(proxy.port, '127.0.0.1');
  let buf = '';
  let closed = false;
  sock.on('data', (d: Buffer) => { buf += d.toString('latin1'); });
  sock.on('close', () => { closed = true; });
  sock.on('error', () => {});
  sock.write(requestText('GET', path));
  return { sock, text: () => buf, closed: () => closed };
}

async function metric(name: string): Promise<number> {
  const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const line = (await r.body.text()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

const requestLine = (path: string): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === path);

describe('response heads', () => {
  it('a known-length head reaches the client while the upstream still holds the body', async () => {
    const c = client('/known/1');
    // only the head can arrive: the upstream has not written a body byte
    await waitFor("c.text().includes('\\r\\n\\r\\n')", () => c.text().includes('\r\n\r\n'), 5_000);
    expect(held.has('/known/1')).toBe(true);
    const head = parseResponse(Buffer.from(c.text(), 'latin1'), true)!;
    expect(head.status).toBe(200);
    expect(head.headers['x-head']).toBe('early');
    expect(head.headers['content-length']).toBe('11');
    expect(head.body.length).toBe(0);
    held.get('/known/1')!.end('hello world');
    await waitFor("c.text().endsWith('hello world')", () => c.text().endsWith('hello world'), 5_000);
    c.sock.destroy();
    await waitFor("requestLine('/known/1') !== undefined", () => requestLine('/known/1') !== undefined);
    expect(requestLine('/known/1')).toMatchObject({ status: 200, outcome: 'complete', bytes_out: 11 });
  });

  it('known length, then no body for idle_body_ms: the client has the head, then the connection is cut; logged as truncated', async () => {
    const c = client('/known/2');
    await waitFor("c.text().includes('\\r\\n\\r\\n')", () => c.text().includes('\r\n\r\n'), 5_000);
    await waitFor('c.closed', c.closed, IDLE_BODY_MS + 5_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 /);
    await waitFor("requestLine('/known/2') !== undefined", () => requestLine('/known/2') !== undefined);
    expect(requestLine('/known/2')).toMatchObject({ status: 200, outcome: 'truncated', reason: 'upstream_body_timeout' });
  });

  it('an SSE head with no event for idle_body_ms: the held head is counted, the client gets 504 JSON, the log says why', async () => {
    const heldBefore = await metric('portcullis_response_heads_held_total');
    const c = client('/sse/1');
    await waitFor("held.has('/sse/1')", () => held.has('/sse/1'), 5_000);
    await waitFor("(await metric('portcullis_response_heads_held_total')) > heldBefore", async () => (await metric('portcullis_response_heads_held_total')) > heldBefore, 5_000);
    await waitFor("c.text().includes('}')", () => c.text().includes('}'), IDLE_BODY_MS + 5_000);
    const r = parseResponse(Buffer.from(c.text(), 'latin1'), true)!;
    expect(r.status).toBe(504);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code: 'PORTCULLIS_ERR_UPSTREAM_TIMEOUT' });
    c.sock.destroy();
    await waitFor("requestLine('/sse/1') !== undefined", () => requestLine('/sse/1') !== undefined);
    expect(requestLine('/sse/1')).toMatchObject({ status: 504, outcome: 'complete', reason: 'upstream_body_timeout' });
  });

  it('an SSE head reaches the client with the first event, and events keep streaming', async () => {
    const c = client('/sse/2');
    await waitFor("held.has('/sse/2')", () => held.has('/sse/2'), 5_000);
    const res = held.get('/sse/2')!;
    res.write('data: one\n\n');
    await waitFor("c.text().includes('data: one')", () => c.text().includes('data: one'), 5_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 [^]*content-type: text\/event-stream/i);
    res.write('data: two\n\n');
    await waitFor("c.text().includes('data: two')", () => c.text().includes('data: two'), 5_000);
    res.end();
    c.sock.destroy();
  });
});
