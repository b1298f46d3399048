// Upstream HTTP/1.1 pipelining through the proxy as the CLI starts it (`upstreams.<name>.pipelining`):
// many concurrent clients each get their own response from a node:http upstream that really
// receives several requests per connection; an upstream that drops every connection after one
// answer gives each client its own response or a 502, never someone else's; POSTs still work.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';

let proxy: ProxyProcess;
let echo: http.Server;
let hostile: net.Server;
let echoPort = 0;
let hostilePort = 0;
/** Most requests the echo upstream had in flight on one socket at once (> 1 = pipelined). */
let maxInFlightPerSocket = 0;
let echoConnections = 0;
/** Requests under /slow/ the echo upstream has received. */
let slowSeen = 0;
const agent = new Agent({ connections: 64, pipelining: 1 });

beforeAll(async () => {
  const inFlight = new Map<net.Socket, number>();
  echo = http.createServer((req, res) => {
    const s = req.socket;
    const n = (inFlight.get(s) ?? 0) + 1;
    inFlight.set(s, n);
    maxInFlightPerSocket = Math.max(maxInFlightPerSocket, n);
    req.resume();
    res.on('finish', () => inFlight.set(s, (inFlight.get(s) ?? 1) - 1));
    const body = `${req.method} ${req.url}`;
    const slow = req.url!.startsWith('/slow/');
    if (slow) slowSeen++;
    setTimeout(() => res.end(body), slow ? 400 : Math.floor(Math.random() * 8));
  });
  echo.keepAliveTimeout = 30_000;
  echo.on('connection', () => { echoConnections++; });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as net.AddressInfo).port;
  // Answers the first request of each connection (its path as the body), then closes it.
  hostile = net.createServer((s) => {
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const path = buf.slice(0, end).split(' ')[1]!;
      s.removeAllListeners('data');
      s.end(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
    });
  });
  hostile.listen(0, '127.0.0.1');
  await once(hostile, 'listening');
  hostilePort = (hostile.address() as net.AddressInfo).port;
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${echoPort}`, {
    upstreams: {
      app: { targets: [`http://127.0.0.1:${echoPort}`], pipelining: 8, pool: { connections: 4 } },
      hostile: { targets: [`http://127.0.0.1:${hostilePort}`], pipelining: 8, pool: { connections: 2 } },
    },
    routes: [
      { name: 'hostile', match: { path: '/hostile/*' }, upstream: 'hostile', auth: 'none' },
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
    log: { level: 'warn', access: false },
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await agent.close();
  echo?.closeAllConnections();
  await Promise.all([new Promise((r) => echo?.close(r)), new Promise((r) => hostile?.close(r))]);
});

/** One sample of portcullis_upstream_pipeline_requests_total from the admin /metrics. */
async function pipelineMetric(upstream: string, event: string): Promise<number> {
  const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await r.body.text();
  const line = text.split('\n').find((l) => l.startsWith('portcullis_upstream_pipeline_requests_total{') && l.includes(`upstream="${upstream}"`) && l.includes(`event="${event}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function get(path: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  const r = await request(`${proxy.url}${path}`, { method: method as 'GET', dispatcher: agent, ...(body !== undefined ? { body } : {}) });
  return { status: r.statusCode, body: await r.body.text() };
}

describe('upstream pipelining through the proxy', () => {
  it('every client gets its own response while the upstream receives several requests per connection', async () => {
    const paths = Array.from({ length: 400 }, (_, i) => `/p/${i}?q=${i * 7}`);
    const rs = await Promise.all(paths.map((p, i) => get(p, i % 5 === 0 ? 'HEAD' : 'GET')));
    for (const [i, r] of rs.entries()) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(i % 5 === 0 ? '' : `GET ${paths[i]}`);
    }
    expect(maxInFlightPerSocket).toBeGreaterThan(1); // really pipelined
    // pool.connections, plus one per HEAD: node:http answers HEAD with no framing field at all, and
    // such an answer ends its connection (a body may follow it; upstream-late-body.test.ts)
    expect(echoConnections).toBeLessThanOrEqual(4 + paths.length / 5);
    expect(await pipelineMetric('app', 'pipelined')).toBeGreaterThan(0);
  });

  it('requests with a body still go through, one per connection, between pipelined ones', async () => {
    const rs = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? get(`/post/${i}`, 'POST', 'x'.repeat(i)) : get(`/get/${i}`))));
    for (const [i, r] of rs.entries()) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(i % 3 === 0 ? `POST /post/${i}` : `GET /get/${i}`);
    }
  });

  it('clients that give up on pipelined requests leave the connections in step: everyone else gets their own response', async () => {
    const before = await pipelineMetric('app', 'discarded');
    const ctrls = Array.from({ length: 32 }, () => new AbortController());
    const runs = ctrls.map((c, i) => request(`${proxy.url}/slow/${i}`, { dispatcher: agent, signal: c.signal })
      .then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), () => null));
    // written upstream (most behind others: 4 connections × 8), none answered yet
    for (let i = 0; i < 250 && slowSeen < 24; i++) await new Promise((r) => setTimeout(r, 20));
    expect(slowSeen).toBeGreaterThanOrEqual(24);
    for (let i = 0; i < ctrls.length; i += 2) ctrls[i]!.abort();
    const rs = await Promise.all(runs);
    for (let i = 1; i < rs.length; i += 2) expect(rs[i]).toEqual({ status: 200, body: `GET /slow/${i}` });
    // the same connections, right after: still matched
    const after = await Promise.all(Array.from({ length: 40 }, (_, i) => get(`/after/${i}`)));
    for (const [i, r] of after.entries()) expect(r.body).toBe(`GET /after/${i}`);
    let discarded = 0;
    for (let i = 0; i < 50 && discarded <= before; i++) {
      discarded = await pipelineMetric('app', 'discarded');
      if (discarded <= before) await new Promise((r) => setTimeout(r, 100));
    }
    expect(discarded).toBeGreaterThan(before); // aborted ones behind others were read and dropped, not torn down
  });

  it('an upstream dropping each connection after one answer gives every client its own response or a 502', async () => {
    const paths = Array.from({ length: 60 }, (_, i) => `/hostile/${i}`);
    const rs = await Promise.all(paths.map((p) => get(p)));
    let own = 0;
    for (const [i, r] of rs.entries()) {
      if (r.status === 200) {
        expect(r.body).toBe(paths[i]);
        own++;
      } else {
        expect(r.status).toBe(502);
        expect(r.body).not.toContain('/hostile/'); // an error body, not another client's response
      }
    }
    expect(own).toBeGreaterThan(0);
    // requests behind each lost connection were retried once (counted), not answered from it
    let retried = 0;
    for (let i = 0; i < 50 && retried === 0; i++) {
      retried = await pipelineMetric('hostile', 'retried');
      if (retried === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(retried).toBeGreaterThan(0);
  });
});
