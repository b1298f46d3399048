// gRPC through the proxy, end to end with real @grpc/grpc-js client and server: the client talks
// h2c to the HTTP/2 listener, the proxy talks h2c to the gRPC server (`protocol: h2c`). Unary,
// server-streaming, client-streaming and bidi calls with metadata; per-method scopes; the server's
// own statuses (trailers) reach the client; deadlines; a client cancel reaches the server as a
// cancel (RST_STREAM); a revocation or the token's expiry mid-stream ends the call with UNAUTHENTICATED, a reload
// that no longer allows it with PERMISSION_DENIED.
import { writeFileSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { stringify } from 'yaml';
import * as grpc from '@grpc/grpc-js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { admin, jtiOf } from '../ws/ws-fixtures.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({ path: `/shop.Orders/${name}`, requestStream, responseStream, ...raw });
const SERVICE: grpc.ServiceDefinition = {
  Get: method('Get', false, false), Watch: method('Watch', false, true), Upload: method('Upload', true, false),
  Chat: method('Chat', true, true), Fail: method('Fail', false, false), Slow: method('Slow', false, false), Put: method('Put', false, false),
};

let as: AuthServer;
let server: grpc.Server;
let proxy: ProxyProcess;
let client: grpc.Client;
let cancelledAtServer = 0;
let grpcPort = 0;

/** The proxy's config: `orders` calls need `ordersScope` (a reload narrows it). */
function proxyConfig(ordersScope: string): Record<string, unknown> {
  return baseConfig(`http://127.0.0.1:${grpcPort}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    upstreams: { app: { targets: [`http://127.0.0.1:${grpcPort}`], protocol: 'h2c' } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'], clock_skew_s: 0 }) },
    routes: [
      { name: 'orders-write', match: { path: '/shop.Orders/Put' }, upstream: 'app', auth: { scopes: { all: ['orders:write'] } } },
      { name: 'orders', match: { path: '/shop.Orders/*' }, upstream: 'app', auth: { scopes: { all: [ordersScope] } } },
    ],
    verifier: { pool_size: 1 },
  });
}
const who = (md: grpc.Metadata): string => JSON.stringify({ sub: md.get('x-auth-subject')[0] ?? null, auth: md.get('authorization').length, trace: md.get('x-trace')[0] ?? null });

beforeAll(async () => {
  as = await startAuthServer();
  server = new grpc.Server();
  server.addService(SERVICE, {
    Get: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(who(call.metadata))),
    Put: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('put')),
    Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      let i = 0;
      const t = setInterval(() => {
        if (call.cancelled) { clearInterval(t); return; }
        call.write(Buffer.from(`tick ${i}`));
        if (++i === n) { clearInterval(t); call.end(); }
      }, 20);
      call.on('cancelled', () => { cancelledAtServer++; clearInterval(t); });
    },
    Upload: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let bytes = 0, n = 0;
      call.on('data', (b: Buffer) => { bytes += b.length; n++; });
      call.on('end', () => cb(null, Buffer.from(`${n} messages, ${bytes} bytes`)));
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.from(`echo ${b.toString()}`)));
      call.on('end', () => call.end());
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set('x-reason', 'missing');
      cb({ code: grpc.status.NOT_FOUND, details: 'order 42 not found', metadata: md });
    },
    Slow: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => { setTimeout(() => cb(null, Buffer.from('late')), 2_000); },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  grpcPort = port;
  proxy = await startProxy(proxyConfig('orders:read'), { env: ADMIN_ENV });
  await waitReady(proxy);
  client = new grpc.Client(`127.0.0.1:${http2PortOf(proxy.logs())}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  server?.forceShutdown();
  await as?.close();
});

async function md(claims: Record<string, unknown> = {}): Promise<grpc.Metadata> {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${await as.issueJwt(claims)}`);
  m.set('x-trace', 't-1');
  return m;
}

function unary(name: string, m: grpc.Metadata, deadlineMs = 5_000): Promise<{ err: grpc.ServiceError | null; res: Buffer | undefined }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/shop.Orders/${name}`, raw.requestSerialize, raw.responseDeserialize, Buffer.from('1'), m, { deadline: Date.now() + deadlineMs }, (err, res) => resolve({ err, res }));
  });
}

describe('gRPC calls through the proxy (h2c listener → h2c upstream)', () => {
  it('unary: allowed with the method\'s scope; the server sees identity metadata and the caller\'s metadata, the token stripped of nothing', async () => {
    const { err, res } = await unary('Get', await md({ sub: 'erin' }));
    expect(err).toBeNull();
    expect(JSON.parse(res!.toString())).toEqual({ sub: 'erin', auth: 1, trace: 't-1' });
  });

  it('per-method policy: Put needs orders:write → PERMISSION_DENIED (7) from the proxy, the server never called', async () => {
    const { err } = await unary('Put', await md());
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('server-streaming: every message arrives, then OK from the server\'s trailers', async () => {
    const got: string[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      void md().then((m) => {
        const call = client.makeServerStreamRequest('/shop.Orders/Watch', raw.requestSerialize, raw.responseDeserialize, Buffer.from('5'), m, {});
        call.on('data', (b: Buffer) => got.push(b.toString()));
        call.on('status', resolve);
        call.on('error', () => { /* status follows */ });
      });
    });
    expect(status.code).toBe(grpc.status.OK);
    expect(got).toEqual(['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4']);
  });

  it('client-streaming and bidi: request messages stream to the server, answers stream back', async () => {
    const m = await md();
    const up = await new Promise<string>((resolve, reject) => {
      const call = client.makeClientStreamRequest('/shop.Orders/Upload', raw.requestSerialize, raw.responseDeserialize, m, {}, (e, r) => (e ? reject(e) : resolve(r!.toString())));
      for (let i = 0; i < 50; i++) call.write(Buffer.alloc(10_000, i));
      call.end();
    });
    expect(up).toBe('50 messages, 500000 bytes');
    const echoes = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const call = client.makeBidiStreamRequest('/shop.Orders/Chat', raw.requestSerialize, raw.responseDeserialize, m, {});
      call.on('data', (b: Buffer) => { out.push(b.toString()); if (out.length < 3) call.write(Buffer.from(`m${out.length}`)); else call.end(); });
      call.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve(out) : reject(new Error(s.details))));
      call.on('error', () => { /* status follows */ });
      call.write(Buffer.from('m0'));
    });
    expect(echoes).toEqual(['echo m0', 'echo m1', 'echo m2']);
  });

  it('the server\'s own status and trailing metadata pass through (grpc-status 5 NOT_FOUND, details, x-reason)', async () => {
    const { err } = await unary('Fail', await md());
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    expect(err?.details).toBe('order 42 not found');
    expect(err?.metadata.get('x-reason')).toEqual(['missing']);
  });

  it('a deadline shorter than the server takes → DEADLINE_EXCEEDED', async () => {
    const { err } = await unary('Slow', await md(), 300);
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('a client cancel travels upstream as RST_STREAM: the server sees its call cancelled', async () => {
    const before = cancelledAtServer;
    const m = await md();
    await new Promise<void>((resolve) => {
      const call = client.makeServerStreamRequest('/shop.Orders/Watch', raw.requestSerialize, raw.responseDeserialize, Buffer.from('1000'), m, {});
      call.on('data', () => { call.cancel(); resolve(); });
      call.on('error', () => { /* CANCELLED */ });
    });
    await waitFor('cancelledAtServer > before', () => cancelledAtServer > before, 3_000);
  });

  it('revoking the token mid-stream ends the call with UNAUTHENTICATED (16)', async () => {
    const token = await as.issueJwt({ sub: 'frank' });
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${token}`);
    let seen = 0;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeServerStreamRequest('/shop.Orders/Watch', raw.requestSerialize, raw.responseDeserialize, Buffer.from('1000'), m, {});
      call.on('data', () => { if (++seen === 3) void admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) }); });
      call.on('status', resolve);
      call.on('error', () => { /* status follows */ });
    });
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/revoked/);
    expect(seen).toBeGreaterThanOrEqual(3);
  });

  it('a streaming call ends with UNAUTHENTICATED (16) when its token expires', async () => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${await as.issueJwt({ sub: 'gina' }, { ttlSeconds: 2 })}`);
    let seen = 0;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeServerStreamRequest('/shop.Orders/Watch', raw.requestSerialize, raw.responseDeserialize, Buffer.from('1000'), m, {});
      call.on('data', () => { seen++; });
      call.on('status', resolve);
      call.on('error', () => { /* status follows */ });
    });
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/expired/);
    expect(seen).toBeGreaterThan(0);
    expect(seen, 'the stream was cut by the expiry, not ended by the server').toBeLessThan(1000);
  });

  // last: it narrows the running config
  it('a reload that no longer allows a streaming call ends it with PERMISSION_DENIED (7); a call still allowed goes on', async () => {
    const watch = (token: string, onData: (n: number) => void): Promise<{ status: grpc.StatusObject; seen: number }> => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${token}`);
      let seen = 0;
      return new Promise((resolve) => {
        const call = client.makeServerStreamRequest('/shop.Orders/Watch', raw.requestSerialize, raw.responseDeserialize, Buffer.from('150'), m, {});
        call.on('data', () => onData(++seen));
        call.on('status', (status: grpc.StatusObject) => resolve({ status, seen }));
        call.on('error', () => { /* status follows */ });
      });
    };
    const [reader, admin2] = await Promise.all([as.issueJwt({ scope: 'orders:read' }), as.issueJwt({ scope: 'orders:read orders:admin' })]);
    let reloaded: Promise<{ status: number }> | null = null;
    const narrowed = watch(reader, (n) => {
      if (n !== 3 || reloaded !== null) return;
      writeFileSync(proxy.configPath, stringify(proxyConfig('orders:admin')));
      reloaded = admin(proxy, 'POST', '/reload');
    });
    const kept = watch(admin2, () => { /* counted */ });
    const cut = await narrowed;
    expect((await reloaded!)?.status).toBe(200);
    expect(cut.status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(cut.status.details).toBe('access changed by configuration');
    expect(cut.seen, 'the call was cut by the reload, not ended by the server').toBeLessThan(150);
    const done = await kept;
    expect(done.status.code).toBe(grpc.status.OK);
    expect(done.seen).toBe(150);
  });
});
