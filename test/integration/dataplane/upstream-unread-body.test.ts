// An upstream that stops reading the request body while a blameless client uploads as fast as it
// can: the proxy holds the client back (backpressure), so the body is late because of the upstream.
// Whichever fires first — `server.timeouts.request_ms` or the upstream's `idle_body_ms` — the client
// gets 504 PORTCULLIS_ERR_UPSTREAM_TIMEOUT saying the upstream did not take the body, and the access
// log says `upstream_request_body_timeout`. Before, it got 408 "request body not received in time"
// (telling it it was too slow) or 502 "upstream closed the connection". A client that really stops
// sending still gets its 408. Once it has answered, the proxy resets that upstream connection (TLS too): a
// FIN queued behind the unsent body kept it in FIN-WAIT-1, megabytes held, for as long as the upstream lived.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { parseResponse, type RawResponse, type RawUpstream, startRawUpstream } from '../../helpers/raw-http.js';
import { h2Connect, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';

const BODY_BYTES = 48 * 1024 * 1024; // far over every socket buffer between the client and the upstream
const REQUEST_MS = 2_500;

let upstream: RawUpstream;
let tlsUpstream: tls.Server;
const tlsSockets = new Set<tls.TLSSocket>();
let proxy: ProxyProcess;
/** The proxy-side port of the upstream connection each request path came on. */
const proxySide = new Map<string, number>();

beforeAll(async () => {
  // reads the request head, then never another byte (/slow: keeps reading, never answers)
  const readHeadOnly = (s: net.Socket): void => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      proxySide.set(head.slice(head.indexOf(' ') + 1, head.indexOf(' HTTP/')), s.remotePort!);
      if (!head.startsWith('POST /slow')) { s.off('data', onData); s.pause(); }
    };
    s.on('data', onData);
  };
  upstream = await startRawUpstream(readHeadOnly);
  const files = selfSignedCert();
  tlsUpstream = tls.createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (s) => {
    tlsSockets.add(s);
    s.on('error', () => { /* reset by the proxy */ });
    readHeadOnly(s);
  });
  await new Promise<void>((r) => tlsUpstream.listen(0, '127.0.0.1', r));
  const url = upstream.url;
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, timeouts: { request_ms: REQUEST_MS }, limits: { max_body_bytes: 64 * 1024 * 1024 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: {
      // request_ms (2.5 s) comes first
      patient: { targets: [url], timeouts: { idle_body_ms: 60_000, response_ms: 60_000 } },
      // idle_body_ms (0.8 s) comes first
      strict: { targets: [url], timeouts: { idle_body_ms: 800, response_ms: 60_000 } },
      'strict-tls': { targets: [`https://localhost:${(tlsUpstream.address() as AddressInfo).port}`], timeouts: { idle_body_ms: 800, response_ms: 60_000 } },
    },
    routes: [
      { name: 'patient', match: { path: '/patient' }, upstream: 'patient', auth: 'none' },
      { name: 'strict', match: { path: '/strict' }, upstream: 'strict', auth: 'none' },
      { name: 'strict-chunked', match: { path: '/strict-chunked' }, upstream: 'strict', auth: 'none' },
      { name: 'strict-tls', match: { path: '/strict-tls' }, upstream: 'strict-tls', auth: 'none' },
      { name: 'slow', match: { path: '/slow' }, upstream: 'patient', auth: 'none' },
    ],
    log: { level: 'info', access: true },
  }, { env: { ...ADMIN_ENV, NODE_EXTRA_CA_CERTS: files.cert } });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  for (const s of tlsSockets) s.destroy(); // paused: they would hold close() open
  await new Promise((r) => tlsUpstream?.close(r));
});

/**
 * POST `path` announcing BODY_BYTES (`chunked`: in 64 KiB chunks, no length); `fast`: written as fast
 * as the proxy takes it, else 10 bytes and then nothing. Resolves with the answer.
 */
function upload(port: number, path: string, fast: boolean, chunked = false): Promise<RawResponse> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      const r = parseResponse(buf, closed);
      if (r === null && !closed) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      resolve(r ?? { status: 0, headers: {}, headerList: [], body: Buffer.alloc(0), closed, raw: buf.toString('latin1') });
    };
    const timer = setTimeout(() => finish(true), 20_000);
    c.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); finish(false); });
    c.on('error', () => { /* the answer (or its absence) tells */ });
    c.on('close', () => finish(true));
    c.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${BODY_BYTES}`}\r\n\r\n`);
    if (!fast) { c.write('0123456789'); return; }
    const data = Buffer.alloc(64 * 1024, 0x61);
    const chunk = chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]) : data;
    let written = 0;
    const pump = (): void => {
      while (written < BODY_BYTES && !c.destroyed) {
        written += data.length;
        if (!c.write(chunk)) return;
      }
    };
    c.on('drain', pump);
    pump();
  });
}

/** The same over the HTTP/2 listener (h2c): the body written as fast as flow control lets it. Resolves with the status and body. */
async function h2Upload(port: number, path: string): Promise<{ status: number; body: string }> {
  const session = await h2Connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': path, 'content-length': String(BODY_BYTES) });
      let status = 0;
      let body = '';
      req.setEncoding('utf8');
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (d: string) => { body += d; });
      req.on('close', () => resolve({ status, body }));
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let written = 0;
      const pump = (): void => {
        while (written < BODY_BYTES && !req.destroyed && status === 0) {
          written += chunk.length;
          if (!req.write(chunk)) return;
        }
      };
      req.on('drain', pump);
      pump();
    });
  } finally { session.destroy(); }
}

/** The kernel's state (hex, /proc/net/tcp*) of the proxy's socket from `localPort` to an upstream, undefined once it is gone. */
function proxySocketState(localPort: number): string | undefined {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  const upstreamPorts = [upstream.port, (tlsUpstream.address() as AddressInfo).port].map((p) => `:${hex(p)}`);
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex(localPort)}`) && upstreamPorts.some((p) => f[2]?.endsWith(p))) return f[3];
    }
  }
  return undefined;
}
const FIN_WAIT_1 = '04';

/** The HTTP/1 listener's access line for `path` (the HTTP/2 case's line, for /patient too, says listener http2). */
const accessLine = (path: string): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === path && l.listener !== 'http2');

// Each case waits out a timer (request_ms or idle_body_ms) on a connection and path of its own: they
// run side by side, so the file waits ~one request_ms, not the sum of the five.
describe.concurrent('an upstream that stops reading the request body', () => {
  it.each([
    ['/patient', 'request_ms fires first', false],
    ['/strict', 'idle_body_ms fires first', false],
    ['/strict-chunked', 'a chunked upload, idle_body_ms fires first', true],
    ['/strict-tls', 'a TLS upstream, idle_body_ms fires first', false],
  ])('%s (%s): 504 naming the upstream, not 408 blaming the client', async (path, _why, chunked) => {
    const r = await upload(proxy.port, path, true, chunked);
    expect(r.status, r.raw.slice(0, 300)).toBe(504);
    const body = JSON.parse(r.body.toString()) as { error: string; code: string; message: string };
    expect(body.code).toBe('PORTCULLIS_ERR_UPSTREAM_TIMEOUT');
    expect(body.message).toMatch(/^upstream "(patient|strict|strict-tls)" did not (read|take) the request body/);
    await waitFor('accessLine(path) !== undefined', () => accessLine(path) !== undefined, 10_000, { detail: () => proxy.output().slice(-3000) });
    expect(accessLine(path)!.reason).toBe('upstream_request_body_timeout');
    // the upload it gave up on is not left queued for the upstream: the connection is reset, gone from the proxy's host
    const port = proxySide.get(path)!;
    await waitFor(`the proxy's socket to the upstream (port ${port}) gone, not in FIN-WAIT-1 with the unsent body`, () => proxySocketState(port) === undefined, 5_000, { detail: () => `state ${proxySocketState(port)} (${FIN_WAIT_1} = FIN-WAIT-1)` });
  }, 30_000);

  it('HTTP/2 listener (request_ms fires first): 504 naming the upstream', async () => {
    const r = await h2Upload(http2PortOf(proxy.logs()), '/patient?h2');
    expect(r.status, r.body).toBe(504);
    const body = JSON.parse(r.body) as { code: string; message: string };
    expect(body.code).toBe('PORTCULLIS_ERR_UPSTREAM_TIMEOUT');
    expect(body.message).toMatch(/^upstream "patient" did not take the request body/);
    await waitFor("proxy.logs().some((l) => l.msg === 'request' && l.listener === 'http2' && l.reason === 'upstream_request_bo…", () => proxy.logs().some((l) => l.msg === 'request' && l.listener === 'http2' && l.reason === 'upstream_request_body_timeout'), 10_000, { detail: () => `access log reason upstream_request_body_timeout\n${proxy.output().slice(-3000)}` });
  }, 30_000);

  it('a client that stops sending its body still gets 408 at request_ms', async () => {
    const r = await upload(proxy.port, '/slow', false);
    expect(r.status, r.raw.slice(0, 300)).toBe(408);
    expect(r.body.toString()).toContain('request body not received in time');
    await waitFor("accessLine('/slow') !== undefined", () => accessLine('/slow') !== undefined, 10_000, { detail: () => proxy.output().slice(-3000) });
    expect(accessLine('/slow')!.reason).toBe('request_timeout');
  }, 30_000);
});
