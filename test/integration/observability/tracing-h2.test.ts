// Tracing on the HTTP/2 listener and to HTTP/2 upstreams, against real processes: the proxy as
// the CLI starts it (uWS and h2c listeners), the demo authorization server and echo upstream, a
// node:http2 upstream, a @grpc/grpc-js server and client, and the real OTLP/HTTP receiver. The
// HTTP/2 listener keeps the client's trace, sends a new span id upstream, exports the same spans
// as the uWS listener and names the trace in its access log; h2 upstreams get traceparent from both listeners.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http2, { type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf, type H2Reply } from '../../helpers/h2-client.js';
import { attr, startOtlpCollector, type OtlpCollector, type OtlpSpan } from '../../helpers/otlp-collector.js';
import { SECRET_ENV, asIssuer, call, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const PARENT = '00f067aa0ba902b7';
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
const SERVICE: grpc.ServiceDefinition = { Get: { path: '/shop.Orders/Get', requestStream: false, responseStream: false, ...raw } };

let as: AuthServer;
let echo: EchoUpstream;
let collector: OtlpCollector;
let h2up: Http2Server;
let grpcServer: grpc.Server;
let proxy: ProxyProcess;
let origin: string;
let client: grpc.Client;

const spansOf = (traceId: string): OtlpSpan[] => collector.spans.filter((s) => s.traceId === traceId);
const accessLine = (path: string): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === path);
const seenBy = (r: H2Reply): Record<string, string> => { expect(r.status, r.text).toBe(200); return (r.json as { headers: Record<string, string> }).headers; };

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  collector = await startOtlpCollector();
  // an HTTP/2 upstream answering with the trace headers it received
  h2up = http2.createServer();
  h2up.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify({ headers: { traceparent: headers.traceparent, tracestate: headers.tracestate } }));
  });
  await new Promise<void>((r) => h2up.listen(0, '127.0.0.1', r));
  grpcServer = new grpc.Server();
  grpcServer.addService(SERVICE, {
    Get: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(String(call.metadata.get('traceparent')[0] ?? ''))),
  });
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    issuers: { demo: asIssuer(as) },
    upstreams: {
      app: { targets: [echo.url] },
      h2: { targets: [`http://127.0.0.1:${(h2up.address() as AddressInfo).port}`], protocol: 'h2c' },
      shop: { targets: [`http://127.0.0.1:${grpcPort}`], protocol: 'h2c' },
    },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
      { name: 'h2up', match: { path: '/h2/*' }, upstream: 'h2', auth: 'none' },
      { name: 'grpc', match: { path: '/shop.Orders/*' }, upstream: 'shop', auth: 'none' },
    ],
    tracing: { enabled: true, endpoint: collector.url, batch: { max_spans: 64, interval_ms: 50 } },
    verifier: { pool_size: 1 },
    // the proxy's own documents (/.well-known/jwks.json) on both listeners
    internal_tokens: { issuer: 'https://portcullis.internal', signing: 'inline' },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
  client = new grpc.Client(`127.0.0.1:${http2PortOf(proxy.logs())}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  grpcServer?.forceShutdown();
  await new Promise<void>((r) => (h2up ? h2up.close(() => r()) : r()));
  await collector?.close();
  await echo?.close();
  await as?.close();
});

describe('the HTTP/2 listener traces like the uWS listener', () => {
  it('keeps the client trace, sends a new span id upstream, exports request and upstream spans, logs the trace id', async () => {
    const t = '11111111111111111111111111111111';
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/open/a', traceparent: `00-${t}-${PARENT}-01`, tracestate: 'vendor=abc' });
    const seen = seenBy(r);
    const m = TRACEPARENT_RE.exec(seen.traceparent!)!;
    expect(m, seen.traceparent).not.toBeNull();
    expect(m[1]).toBe(t);
    expect(m[2]).not.toBe(PARENT);
    expect(seen.tracestate).toBe('vendor=abc');
    await waitFor('spansOf(t).length >= 2', () => spansOf(t).length >= 2);
    const server = spansOf(t).find((s) => s.kind === 2)!;
    expect(server.name).toBe('GET open');
    expect(server.parentSpanId).toBe(PARENT);
    const upstream = spansOf(t).find((s) => s.kind === 3)!;
    expect(upstream.spanId, 'the span id the upstream got is the upstream call span').toBe(m[2]);
    expect(upstream.parentSpanId).toBe(server.spanId);
    expect(attr(upstream, 'portcullis.upstream')).toBe('app');
    await waitFor("accessLine('/open/a') !== undefined", () => accessLine('/open/a') !== undefined);
    expect(accessLine('/open/a')!.listener).toBe('http2');
    expect(accessLine('/open/a')!.trace_id).toBe(t);
    expect(accessLine('/open/a')!.span_id).toBe(server.spanId);
  });

  it('puts the stage spans of a token route under the request span', async () => {
    const token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const t = '22222222222222222222222222222222';
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/orders/1', authorization: `Bearer ${token}`, traceparent: `00-${t}-${PARENT}-01` });
    seenBy(r);
    await waitFor('spansOf(t).length >= 6', () => spansOf(t).length >= 6);
    const server = spansOf(t).find((s) => s.kind === 2)!;
    for (const name of ['extract', 'authenticate', 'revocation check', 'authorize']) {
      expect(spansOf(t).find((s) => s.name === name)?.parentSpanId, name).toBe(server.spanId);
    }
    expect(JSON.stringify(collector.spans)).not.toContain(token);
  });

  it('never forwards a malformed traceparent, and traces requests refused before routing', async () => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/open/bad', traceparent: 'garbage', tracestate: 'vendor=abc' });
    const seen = seenBy(r);
    expect(TRACEPARENT_RE.test(seen.traceparent!), seen.traceparent).toBe(true);
    expect(seen.traceparent).not.toBe('garbage');
    expect(seen.tracestate).toBeUndefined();
    const t = '33333333333333333333333333333333';
    expect((await h2Fetch(origin, { ':method': 'GET', ':path': '/nowhere', traceparent: `00-${t}-${PARENT}-01` })).status).toBe(404);
    await waitFor('spansOf(t).some((s) => s.kind === 2)', () => spansOf(t).some((s) => s.kind === 2));
    expect(attr(spansOf(t).find((s) => s.kind === 2)!, 'http.response.status_code')).toBe(404);
    await waitFor("accessLine('/nowhere') !== undefined", () => accessLine('/nowhere') !== undefined);
    expect(accessLine('/nowhere')!.trace_id).toBe(t);
  });
});

describe('the proxy\'s own documents are traced on both listeners', () => {
  it('GET /.well-known/jwks.json exports a server span (200) and logs its trace id, over HTTP/2 as over HTTP/1.1; before, HTTP/2 exported none', async () => {
    const t2 = '44444444444444444444444444444444';
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': '/.well-known/jwks.json', traceparent: `00-${t2}-${PARENT}-01` });
    expect(r.status).toBe(200);
    const t1 = '55555555555555555555555555555555';
    const r1 = await fetch(`${proxy.url}/.well-known/jwks.json`, { headers: { traceparent: `00-${t1}-${PARENT}-01` } });
    await r1.arrayBuffer();
    expect(r1.status).toBe(200);
    for (const t of [t2, t1]) {
      await waitFor(`a server span of trace ${t}`, () => spansOf(t).some((s) => s.kind === 2));
      expect(attr(spansOf(t).find((s) => s.kind === 2)!, 'http.response.status_code')).toBe(200);
    }
    await waitFor('the HTTP/2 access line', () => proxy.logs().some((l) => l.msg === 'request' && l.path === '/.well-known/jwks.json' && l.listener === 'http2'));
    expect(proxy.logs().find((l) => l.msg === 'request' && l.path === '/.well-known/jwks.json' && l.listener === 'http2')!.trace_id).toBe(t2);
  });
});

describe('span names a client cannot multiply', () => {
  it('a method outside HTTP\'s own is named HTTP and recorded as _OTHER, its value beside it (OpenTelemetry semantic conventions)', async () => {
    // node:http2 routes any token as :method: one span name per method sent would give trace
    // backends (and span-metrics pipelines) a new operation, a new series, per client request
    const sent: Array<[string, string]> = [];
    for (let i = 0; i < 6; i++) {
      const t = `7777777777777777777777777777770${i}`;
      const method = `X${i}RANDOM${'Z'.repeat(i * 20)}`;
      sent.push([t, method]);
      const r = await h2Fetch(origin, { ':method': method, ':path': i % 2 === 0 ? '/open/m' : '/nowhere/m', traceparent: `00-${t}-${PARENT}-01` });
      expect(r.status).toBeGreaterThanOrEqual(200);
    }
    await waitFor('sent.every(([t]) => spansOf(t).some((s) => s.kind === 2))', () => sent.every(([t]) => spansOf(t).some((s) => s.kind === 2)), 5_000);
    const names = new Set(sent.flatMap(([t]) => spansOf(t).filter((s) => s.kind !== 1).map((s) => s.name)));
    expect([...names].sort()).toEqual(['HTTP (none)', 'HTTP open', 'upstream HTTP']);
    for (const [t, method] of sent) {
      for (const s of spansOf(t).filter((x) => x.kind !== 1)) {
        expect(attr(s, 'http.request.method')).toBe('_OTHER');
        expect(attr(s, 'http.request.method_original')).toBe(method.slice(0, 64));
      }
    }
    // a method HTTP defines keeps its name
    const t = '88888888888888888888888888888888';
    await h2Fetch(origin, { ':method': 'DELETE', ':path': '/open/d', traceparent: `00-${t}-${PARENT}-01` });
    await waitFor('spansOf(t).some((s) => s.kind === 2)', () => spansOf(t).some((s) => s.kind === 2));
    const server = spansOf(t).find((s) => s.kind === 2)!;
    expect(server.name).toBe('DELETE open');
    expect(attr(server, 'http.request.method')).toBe('DELETE');
    expect(attr(server, 'http.request.method_original')).toBeUndefined();
  });
});

describe('HTTP/2 upstreams get trace context', () => {
  it('from the HTTP/2 listener and from the uWS listener', async () => {
    const t1 = '44444444444444444444444444444444';
    const viaH2 = seenBy(await h2Fetch(origin, { ':method': 'GET', ':path': '/h2/x', traceparent: `00-${t1}-${PARENT}-01` }));
    expect(TRACEPARENT_RE.exec(viaH2.traceparent!)![1]).toBe(t1);
    const t2 = '55555555555555555555555555555555';
    const viaUws = await call(`${proxy.url}/h2/y`, { headers: { traceparent: `00-${t2}-${PARENT}-01` } });
    expect(viaUws.status, viaUws.text).toBe(200);
    const m = TRACEPARENT_RE.exec((viaUws.json as { headers: Record<string, string> }).headers.traceparent!)!;
    expect(m[1]).toBe(t2);
    await waitFor('spansOf(t2).some((s) => s.kind === 3)', () => spansOf(t2).some((s) => s.kind === 3));
    expect(spansOf(t2).find((s) => s.kind === 3)!.spanId).toBe(m[2]);
  });

  it('carries a gRPC call\'s trace (metadata traceparent) to the gRPC server and exports its spans', async () => {
    const t = '66666666666666666666666666666666';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${t}-${PARENT}-01`);
    const got = await new Promise<string>((resolve, reject) => {
      client.makeUnaryRequest('/shop.Orders/Get', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), md, (err, v) => (err ? reject(err) : resolve(v!.toString())));
    });
    const m = TRACEPARENT_RE.exec(got)!;
    expect(m, got).not.toBeNull();
    expect(m[1]).toBe(t);
    await waitFor('spansOf(t).length >= 2', () => spansOf(t).length >= 2);
    const server = spansOf(t).find((s) => s.kind === 2)!;
    expect(server.name).toBe('POST grpc');
    expect(spansOf(t).find((s) => s.kind === 3)!.spanId).toBe(m[2]);
    await waitFor("accessLine('/shop.Orders/Get') !== undefined", () => accessLine('/shop.Orders/Get') !== undefined);
    expect(accessLine('/shop.Orders/Get')!.trace_id).toBe(t);
  });
});
