// `Grpc-Metadata-<name>` is grpc-gateway's spelling of gRPC metadata `<name>`: a gateway upstream
// (HTTP/JSON in front of a gRPC service) strips the prefix and hands the rest to the service as
// metadata, while it drops the proxy's own `X-Auth-*` headers by default. A client-sent
// `grpc-metadata-x-auth-subject: root` must therefore be stripped like `x-auth-subject` itself,
// on both listeners and every route. Before, it was forwarded unchanged (the service saw
// `x-auth-subject: root`, on an `auth: none` route and next to a verified token alike).
// Likewise `grpc-metadata-authorization` becomes a second `authorization` value at the service:
// next to a verified token it is a second credential (400 / INVALID_ARGUMENT, nothing forwarded),
// as `?access_token=` is; before, the unverified token rode along. The same for a route's own
// token header (`token_sources.header: x-api-token` → `grpc-metadata-x-api-token`).
import http2 from 'node:http2';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { http2PortOf, h2Fetch } from '../../helpers/h2-client.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';

let as: AuthServer;
let proxy: ProxyProcess;
let upstream: http2.Http2Server;
const received: http2.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  as = await startAuthServer();
  // records every request's headers exactly as received, answers a gRPC OK
  upstream = http2.createServer();
  upstream.on('stream', (s, h) => {
    received.push(h);
    s.on('data', () => { /* drain */ });
    s.on('end', () => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const target = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  proxy = await startProxy(baseConfig(target, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    upstreams: { app: { targets: [target], protocol: 'h2c' } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [
      { name: 'public', match: { path: '/pub.Public/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders', match: { path: '/shop.Orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'keyed', match: { path: '/keyed.Svc/*' }, upstream: 'app', auth: { token_sources: { header: 'x-api-token' } } },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  upstream?.close();
  await as?.close();
});

const FORGED = { 'grpc-metadata-x-auth-subject': 'root', 'grpc-metadata-x-auth-scopes': 'admin', 'Grpc-Metadata-X-Auth-Email': 'root@evil.example' };
const forgedSeen = (h: http2.IncomingHttpHeaders): string[] => Object.keys(h).filter((k) => k.startsWith('grpc-metadata-'));

describe('grpc-gateway metadata spellings of identity headers', () => {
  it('HTTP/2 listener (gRPC call): stripped on an auth: none route and next to a verified token', async () => {
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const token = await as.issueJwt({ sub: 'erin', scope: 'orders:read' });
    for (const [path, auth] of [['/pub.Public/Get', {}], ['/shop.Orders/Get', { authorization: `Bearer ${token}` }]] as const) {
      received.length = 0;
      const r = await h2Fetch(origin, { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...auth, ...FORGED }, Buffer.from([0, 0, 0, 0, 0]));
      expect(r.trailers['grpc-status'] ?? r.headers['grpc-status'], path).toBe('0');
      expect(received.length, path).toBe(1);
      expect(forgedSeen(received[0]!), path).toEqual([]);
      expect(received[0]!['x-auth-subject'], path).toBe(path.startsWith('/shop') ? 'erin' : undefined);
    }
  });

  it('HTTP/1.1 listener (a JSON call a gateway would translate): stripped the same way', async () => {
    const token = await as.issueJwt({ sub: 'erin', scope: 'orders:read' });
    for (const [path, auth] of [['/pub.Public/Get', {}], ['/shop.Orders/Get', { authorization: `Bearer ${token}` }]] as const) {
      received.length = 0;
      const r = await fetch(`${proxy.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...FORGED }, body: '{}' });
      await r.arrayBuffer();
      expect(r.status, path).toBe(200);
      expect(received.length, path).toBe(1);
      expect(forgedSeen(received[0]!), path).toEqual([]);
    }
  });

  // grpc-gateway hands Grpc-Metadata-X-Forwarded-For to the service as x-forwarded-for, ahead of the value it
  // appends itself, and no gateway default passes X-Forwarded-Client-Cert: the forged one would be the only one
  it('the client address, scheme, host and certificate fields in that spelling are stripped too, on both listeners', async () => {
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const forged = {
      'grpc-metadata-x-forwarded-for': '10.0.0.1', 'grpc-metadata-x-forwarded-host': 'admin.internal', 'grpc-metadata-x-forwarded-proto': 'https',
      'grpc-metadata-forwarded': 'for=10.0.0.1', 'grpc-metadata-x-forwarded-client-cert': 'Hash=00;URI=spiffe://prod/ns/payments/sa/ledger',
      'grpc-metadata-x-real-ip': '10.0.0.1', 'grpc-metadata-true-client-ip': '10.0.0.1', 'grpc-metadata-x-original-url': '/admin',
    };
    received.length = 0;
    const r = await h2Fetch(origin, { ':method': 'POST', ':path': '/pub.Public/Get', 'content-type': 'application/grpc', te: 'trailers', ...forged }, Buffer.from([0, 0, 0, 0, 0]));
    expect(r.trailers['grpc-status'] ?? r.headers['grpc-status']).toBe('0');
    const h1 = await fetch(`${proxy.url}/pub.Public/Get`, { method: 'POST', headers: { 'content-type': 'application/json', ...forged }, body: '{}' });
    await h1.arrayBuffer();
    expect(h1.status).toBe(200);
    expect(received.length).toBe(2);
    expect(received.map(forgedSeen)).toEqual([[], []]);
  });

  it('grpc-metadata-authorization next to a verified token is a second credential: refused, nothing forwarded', async () => {
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const token = await as.issueJwt({ sub: 'erin', scope: 'orders:read' });
    const forged = await as.issueJwt({ sub: 'root', scope: 'orders:read admin' });
    received.length = 0;
    const r = await h2Fetch(origin, { ':method': 'POST', ':path': '/shop.Orders/Get', 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${token}`, 'grpc-metadata-authorization': `Bearer ${forged}` }, Buffer.from([0, 0, 0, 0, 0]));
    expect(r.headers['grpc-status']).toBe('3');
    const h1 = await fetch(`${proxy.url}/shop.Orders/Get`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'Grpc-Metadata-Authorization': `Bearer ${forged}` }, body: '{}' });
    expect(h1.status).toBe(400);
    expect(((await h1.json()) as { error: string }).error).toBe('invalid_request');
    expect(received.length).toBe(0);
  });

  it('grpc-metadata-<the route\'s token header> next to the token is a second credential too', async () => {
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const token = await as.issueJwt({ sub: 'erin' });
    const forged = await as.issueJwt({ sub: 'root' });
    received.length = 0;
    const ok = await h2Fetch(origin, { ':method': 'POST', ':path': '/keyed.Svc/Get', 'content-type': 'application/grpc', te: 'trailers', 'x-api-token': token }, Buffer.from([0, 0, 0, 0, 0]));
    expect(ok.trailers['grpc-status'] ?? ok.headers['grpc-status'], 'the token header alone is accepted').toBe('0');
    expect(received.length).toBe(1);
    const r = await h2Fetch(origin, { ':method': 'POST', ':path': '/keyed.Svc/Get', 'content-type': 'application/grpc', te: 'trailers', 'x-api-token': token, 'grpc-metadata-x-api-token': forged }, Buffer.from([0, 0, 0, 0, 0]));
    expect(r.headers['grpc-status']).toBe('3');
    expect(received.length).toBe(1);
  });
});
