// Bodies are streamed with backpressure both ways: a 256 MiB download to a client that
// stops reading for a while, and a 256 MiB upload to an upstream that stops reading
// for a while, each through the proxy with its resident memory growing < 64 MiB.
// (The 1 GiB bound scaled down to keep the suite fast; a proxy that buffers
// instead of pausing would hold the whole paused stretch in memory.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { requestText, parseResponse } from '../../helpers/raw-http.js';
import { startScriptedUpstream, rssBytes, type ScriptedUpstream } from '../../helpers/upstreams.js';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
const PAUSE_MS = 1_500;

let echo: EchoUpstream;
let slowSink: ScriptedUpstream;
let pattern: ScriptedUpstream;
/** 16 MiB where every 32-byte block differs (a SHA-256 chain): a byte from the wrong read shows in the digest. */
const PATTERN = ((): Buffer => {
  const out = Buffer.allocUnsafe(16 * MiB);
  let block = createHash('sha256').update('seed').digest();
  for (let off = 0; off < out.length; off += 32) { block.copy(out, off); block = createHash('sha256').update(block).digest(); }
  return out;
})();
const PATTERN_SHA = createHash('sha256').update(PATTERN).digest('hex');
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  // Reads nothing for PAUSE_MS, then drains and reports how many bytes arrived.
  slowSink = await startScriptedUpstream((req, res, seen) => {
    req.pause();
    setTimeout(() => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ bodyBytes: seen.bodyBytes })));
    }, PAUSE_MS);
  });
  // The pattern in uneven writes, with Content-Length (/pattern/cl) or chunked (/pattern/chunked).
  pattern = await startScriptedUpstream((req, res) => {
    if (req.url!.endsWith('/cl')) res.setHeader('content-length', PATTERN.length);
    let off = 0;
    const pump = (): void => {
      while (off < PATTERN.length) {
        const n = Math.min(PATTERN.length - off, 1000 + (off % 70_001));
        const piece = PATTERN.subarray(off, off + n);
        off += n;
        if (!res.write(piece)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, limits: { max_body_bytes: 2 * SIZE }, timeouts: { request_ms: 60_000 } },
    upstreams: { app: { targets: [echo.url] }, sink: { targets: [slowSink.url] }, pattern: { targets: [pattern.url] } },
    routes: [
      { name: 'pattern', match: { path: '/pattern/*' }, upstream: 'pattern', auth: 'none' },
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
      { name: 'sink', match: { path: '/sink' }, upstream: 'sink', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  // Warm up (JIT, pools) before the baseline.
  for (let i = 0; i < 20; i++) await fetch(`${proxy.url}/bytes/65536`).then((r) => r.arrayBuffer());
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), slowSink?.close(), pattern?.close()]);
});

/** Sample the proxy's RSS every 25 ms while `work` runs; returns the peak growth over the baseline. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const pid = proxy.proc.pid!;
  const base = rssBytes(pid);
  let peak = base;
  const t = setInterval(() => { peak = Math.max(peak, rssBytes(pid)); }, 25);
  try {
    const result = await work();
    peak = Math.max(peak, rssBytes(pid));
    return { result, growth: peak - base };
  } finally {
    clearInterval(t);
  }
}

describe('bytes arrive intact through backpressure', () => {
  // The upstream client reads every connection into one reused buffer (h1-connection.ts): what
  // the relay keeps while its client is blocked, and what a paused connection holds, must be
  // copies, or another connection's next read overwrites bytes not yet sent. Hence several
  // downloads at once, some with a client that stops reading while the others keep going.
  async function download(framing: 'cl' | 'chunked', stallMs: number): Promise<{ bytes: number; sha: string }> {
    const r = await fetch(`${proxy.url}/pattern/${framing}`);
    expect(r.status).toBe(200);
    const reader = r.body!.getReader();
    const hash = createHash('sha256');
    let bytes = 0;
    let stalled = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      bytes += value.length;
      if (!stalled && stallMs > 0 && bytes > 2 * MiB) { stalled = true; await new Promise((res) => setTimeout(res, stallMs)); }
    }
    return { bytes, sha: hash.digest('hex') };
  }

  it('4 × 16 MiB at once (Content-Length and chunked; two clients stop reading for 1 s): each gets the same bytes', async () => {
    const got = await Promise.all([download('cl', 1_000), download('chunked', 1_000), download('cl', 0), download('chunked', 0)]);
    for (const g of got) expect(g).toEqual({ bytes: PATTERN.length, sha: PATTERN_SHA });
  }, 60_000);
});

describe('backpressure with bounded memory', () => {
  it('256 MiB download to a client that stops reading for 1.5 s', async () => {
    const { result, growth } = await peakGrowth(() => new Promise<{ status: number; bytes: number }>((resolve, reject) => {
      const sock = connect(proxy.port, '127.0.0.1');
      let head: Buffer = Buffer.alloc(0);
      let status = 0;
      let bytes = 0;
      sock.on('error', reject);
      sock.on('data', (d: Buffer) => {
        if (status === 0) {
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          status = parseResponse(Buffer.concat([head.subarray(0, end + 4)]), true)?.status ?? -1;
          bytes = head.length - end - 4;
          // Stop reading: the proxy must pause the upstream instead of buffering.
          sock.pause();
          setTimeout(() => sock.resume(), PAUSE_MS);
        } else {
          bytes += d.length;
        }
        if (bytes >= SIZE) { sock.destroy(); resolve({ status, bytes }); }
      });
      sock.write(requestText('GET', `/bytes/${SIZE}`));
    }));
    expect(result).toEqual({ status: 200, bytes: SIZE });
    expect(growth).toBeLessThan(64 * MiB);
  }, 30_000);

  it('256 MiB upload to an upstream that stops reading for 1.5 s', async () => {
    const { result, growth } = await peakGrowth(() => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const sock = connect(proxy.port, '127.0.0.1');
      const chunk = Buffer.alloc(256 * 1024, 'u');
      let sent = 0;
      let buf: Buffer = Buffer.alloc(0);
      sock.on('error', reject);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const r = parseResponse(buf, false);
        if (r !== null) { sock.destroy(); resolve({ status: r.status, body: r.body.toString() }); }
      });
      const pump = (): void => {
        while (sent < SIZE) {
          sent += chunk.length;
          if (!sock.write(chunk)) { sock.once('drain', pump); return; }
        }
      };
      sock.write(requestText('POST', '/sink', [['Content-Length', String(SIZE)]]));
      pump();
    }));
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ bodyBytes: SIZE });
    expect(growth).toBeLessThan(64 * MiB);
  }, 30_000);
});
