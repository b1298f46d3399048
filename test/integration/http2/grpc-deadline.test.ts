// grpc-timeout bounds the whole gRPC call through the proxy, not only the wait for the response
// head: a server-streaming call (real @grpc/grpc-js server streaming slowly) that outlives its
// grpc-timeout ends with trailers grpc-status 4 DEADLINE_EXCEEDED after the messages sent so far,
// the server's call is cancelled (the proxy reset the upstream stream with CANCEL), and it is
// counted and logged. The client is raw node:http2, which (unlike grpc-js) does not enforce the
// deadline itself: what it sees is the proxy's doing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { sourceValue } from '../../../node/metrics/index.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { admin, waitReady } from '../ws/ws-fixtures.js';
import type { ClientHttp2Session } from 'node:http2';
import { waitFor } from '../../helpers/wait.js';

const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
const SERVICE: grpc.ServiceDefinition = {
  Watch: { path: '/shop.Orders/Watch', requestStream: false, responseStream: true, ...raw },
  Slow: { path: '/shop.Orders/Slow', requestStream: false, responseStream: false, ...raw },
};

let server: grpc.Server;
let proxy: ProxyProcess;
let session: ClientHttp2Session;
const cancelled: string[] = [];
/** Calls the server's handler was entered for (under load a deadline can pass before the upstream call starts). */
const started: string[] = [];

/** One gRPC message frame: uncompressed flag, 4-byte length, payload. */
function frame(payload: string): Buffer {
  const b = Buffer.from(payload);
  const h = Buffer.alloc(5);
  h.writeUInt32BE(b.length, 1);
  return Buffer.concat([h, b]);
}

/** The messages of a gRPC response body. */
function messages(body: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i + 5 <= body.length;) {
    const n = body.readUInt32BE(i + 1);
    out.push(body.subarray(i + 5, i + 5 + n).toString());
    i += 5 + n;
  }
  return out;
}

const call = (method: string, payload: string, timeout?: string) => h2Request(session, {
  ':method': 'POST', ':path': `/shop.Orders/${method}`, 'content-type': 'application/grpc', te: 'trailers', ...(timeout !== undefined ? { 'grpc-timeout': timeout } : {}),
}, frame(payload));

async function metric(key: string): Promise<number> {
  const m = await admin(proxy, 'GET', '/metrics');
  return sourceValue(String(m.body), key);
}

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(SERVICE, {
    // n messages, one every 100 ms
    Watch: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
      // the response head goes out at once: the call is streaming from the start, however slow the machine
      c.sendMetadata(new grpc.Metadata());
      const n = Number(c.request.toString());
      let i = 0;
      const t = setInterval(() => {
        if (c.cancelled) { clearInterval(t); return; }
        c.write(Buffer.from(`tick ${i}`));
        if (++i === n) { clearInterval(t); c.end(); }
      }, 100);
      c.on('cancelled', () => { cancelled.push('Watch'); clearInterval(t); });
    },
    Slow: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      started.push('Slow');
      const t = setTimeout(() => cb(null, Buffer.from('late')), 3_000);
      c.on('cancelled', () => { cancelled.push('Slow'); clearTimeout(t); });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${port}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    upstreams: { app: { targets: [`http://127.0.0.1:${port}`], protocol: 'h2c' } },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  session?.close();
  await proxy?.stop();
  server?.forceShutdown();
});

describe('grpc-timeout bounds the whole call', () => {
  it('a server-streaming call that outlives its grpc-timeout gets the messages so far, then trailers grpc-status 4; the server call is cancelled; counted and logged', async () => {
    const before = await metric('http2.grpc_deadline_streaming_total');
    const t0 = performance.now();
    const r = await call('Watch', '60', '1200m'); // 60 messages would take 6 s
    const ms = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(r.rstCode).toBe(0); // ended with trailers, not reset
    expect(r.trailers['grpc-status']).toBe('4');
    const got = messages(r.body);
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got.length).toBeLessThan(60);
    expect(got[0]).toBe('tick 0');
    // not before the deadline; that it ended early shows in the messages: fewer than the 60 sent in full
    expect(ms).toBeGreaterThanOrEqual(1_190);
    await waitFor("cancelled.includes('Watch')", () => cancelled.includes('Watch'), 15_000);
    const line = () => proxy.logs().find((l) => l.msg === 'request' && l.path === '/shop.Orders/Watch');
    await waitFor('line() !== undefined', () => line() !== undefined, 15_000);
    // The proxy's deadline races grpc-js's own on the server (same grpc-timeout, started a few ms
    // later; the proxy checks on a shared 20 ms timer). The caller sees the same thing either way;
    // the proxy's message, counter and log reason appear when its deadline fired first.
    if ((await metric('http2.grpc_deadline_streaming_total')) > before) {
      expect(String(r.trailers['grpc-message'])).toMatch(/deadline exceeded.*grpc-timeout of 1200 ms/);
      expect(line()).toMatchObject({ listener: 'http2', status: 200, outcome: 'truncated', reason: 'h2_deadline_exceeded' });
    } else {
      expect(line()).toMatchObject({ listener: 'http2', status: 200 });
    }
  });

  it('a unary call whose server is slower than its grpc-timeout gets a trailers-only DEADLINE_EXCEEDED; the server call is cancelled', async () => {
    const before = await metric('http2.grpc_deadline_before_response_total');
    const r = await call('Slow', 'x', '300m'); // the server would answer 'late' after 3 s
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBe('4'); // trailers-only: the status is in the one HEADERS frame
    expect(r.body.length).toBe(0);
    // Two deadlines race here: the proxy's (checked on a shared 20 ms timer) and grpc-js's own on
    // the server, which gets the same grpc-timeout a few ms later. Whichever fires first, the caller
    // sees the same trailers-only status 4 and the server call ends (cancelled); the proxy counts
    // and logs the call as its own deadline only when it fired first.
    if (started.includes('Slow')) await waitFor("cancelled.includes('Slow')", () => cancelled.includes('Slow'), 15_000);
    const line = () => proxy.logs().find((l) => l.msg === 'request' && l.path === '/shop.Orders/Slow');
    await waitFor('line() !== undefined', () => line() !== undefined, 15_000);
    const proxyFired = (await metric('http2.grpc_deadline_before_response_total')) > before;
    expect(line()).toMatchObject({ status: 200, outcome: 'complete', ...(proxyFired ? { reason: 'h2_deadline_exceeded' } : {}) });
  });

  it('a call that finishes within its grpc-timeout, or sends none, is not cut', async () => {
    const before = await metric('http2.grpc_deadline_streaming_total');
    const within = await call('Watch', '3', '5S');
    expect(within.trailers['grpc-status']).toBe('0');
    expect(messages(within.body)).toEqual(['tick 0', 'tick 1', 'tick 2']);
    const none = await call('Watch', '12'); // 1.2 s, no deadline
    expect(none.trailers['grpc-status']).toBe('0');
    expect(messages(none.body)).toHaveLength(12);
    expect(await metric('http2.grpc_deadline_streaming_total')).toBe(before);
  });
});
