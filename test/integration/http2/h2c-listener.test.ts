// The HTTP/2 listener (server.http2) in cleartext, prior knowledge (h2c): `portcullis serve` in
// front of the echo upstream and the demo authorization server; node:http2 clients and the
// @grpc/grpc-js client see the same routing, auth, RFC 6750 answers, identity headers and metrics
// as HTTP/1.1 clients of the main listener, and gRPC callers get their denials as gRPC statuses.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { ClientHttp2Session } from 'node:http2';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf, type H2Reply } from '../../helpers/h2-client.js';
import { asIssuer, bearer, call, parseChallenge, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let origin: string;
let session: ClientHttp2Session;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, limits: { max_body_bytes: 64 * 1024 } },
    // a back-channel logout path that a route's pattern also matches; the proxy's own JWKS (internal tokens)
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'], backchannel_logout: { path: '/public/logout', client_id: 'portcullis-web' } }) },
    internal_tokens: { issuer: 'https://portcullis.internal' },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'grpc-get', match: { path: '/shop.Orders/Get', methods: ['POST'] }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'grpc-put', match: { path: '/shop.Orders/Put', methods: ['POST'] }, upstream: 'app', auth: { scopes: { all: ['orders:write'] } } },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
  session = await h2Connect(origin);
});

afterAll(async () => {
  session?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const get = (path: string, headers: Record<string, string> = {}): Promise<H2Reply> => h2Request(session, { ':method': 'GET', ':path': path, ...headers });

describe('h2c with prior knowledge: same routing, auth and identity as the main listener', () => {
  it('a public route is proxied; the upstream gets X-Forwarded-Proto http and the :authority as Host', async () => {
    const r = await get('/public/hello?x=1');
    expect(r.status, r.text).toBe(200);
    const seen = r.json as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/public/hello?x=1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(origin).host);
  });

  it('a Host field naming another host than :authority → 400 PORTCULLIS_ERR_H2_AUTHORITY_MISMATCH (HTTP/2 code), nothing forwarded, logged with its reason', async () => {
    const before = echo.requests;
    const r = await get('/public/hello', { ':authority': new URL(origin).host, host: 'elsewhere.example' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_H2_AUTHORITY_MISMATCH' });
    expect(echo.requests).toBe(before);
    const line = () => proxy.logs().find((l) => l.msg === 'request' && l.path === '/public/hello' && l.status === 400);
    await waitFor('line() !== undefined', () => line() !== undefined, 10_000); // the access line comes over the proxy's stdout, after the answer
    expect(line()).toMatchObject({ listener: 'http2', reason: 'h2_authority_mismatch' });
  });

  it('no token → 401 with the RFC 6750 challenge and JSON body; nothing reaches the upstream', async () => {
    const before = echo.requests;
    const r = await get('/orders/1');
    expect(r.status).toBe(401);
    expect(parseChallenge(String(r.headers['www-authenticate'])).params).toEqual({ realm: 'portcullis' });
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_MISSING' });
    expect(r.headers['cache-control']).toBe('no-store');
    expect(echo.requests).toBe(before);
  });

  it('a valid token is forwarded with identity headers; a client-sent identity header is stripped', async () => {
    const token = await as.issueJwt({ sub: 'bob' });
    const r = await get('/orders/7', { ...bearer(token), 'x-auth-subject': 'mallory' });
    expect(r.status, r.text).toBe(200);
    const seen = r.json as { headers: Record<string, string> };
    expect(seen.headers['x-auth-subject']).toBe('bob');
  });

  it('a forged token → 401 invalid_token; a token without the scope → 403 insufficient_scope with scope=', async () => {
    const bad = `${(await as.issueJwt()).slice(0, -4)}AAAA`;
    const r1 = await get('/orders/1', bearer(bad));
    expect(r1.status).toBe(401);
    expect(parseChallenge(String(r1.headers['www-authenticate'])).params.error).toBe('invalid_token');
    const r2 = await h2Request(session, { ':method': 'POST', ':path': '/shop.Orders/Put', 'content-type': 'application/json', ...bearer(await as.issueJwt()) }, '{}');
    expect(r2.status).toBe(403);
    const ch = parseChallenge(String(r2.headers['www-authenticate'])).params;
    expect(ch.error).toBe('insufficient_scope');
    expect(ch.scope).toBe('orders:write');
  });

  it('request bodies stream to the upstream; one past server.limits.max_body_bytes → 413', async () => {
    const ok = await h2Request(session, { ':method': 'POST', ':path': '/public/upload' }, Buffer.alloc(50_000, 1));
    expect(ok.status, ok.text).toBe(200);
    expect((ok.json as { bodyBytes: number }).bodyBytes).toBe(50_000);
    // no content-length: the cap is found while streaming
    const big = await h2Request(session, { ':method': 'POST', ':path': '/public/upload' }, Buffer.alloc(100_000, 1));
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ code: 'PORTCULLIS_ERR_BODY_TOO_LARGE' });
  });

  it('a large response streams back whole (flow control both ways)', async () => {
    const r = await get('/public/bytes/3000000');
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(3_000_000);
  });

  it('bad input gets the same answers as on HTTP/1.1: 404 no route, 400 ambiguous path', async () => {
    const r404 = await get('/nowhere');
    expect(r404.status).toBe(404);
    expect(r404.json).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
    const r400 = await get('/public/a%2Fb'); // an encoded slash: read differently by upstreams
    expect(r400.status).toBe(400);
    expect(r400.json).toMatchObject({ code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
  });

  it('the proxy\'s own JWKS is served here as on the main listener; a back-channel logout path is never routed (before: JWKS 404, and the logout token forwarded to the /public/* upstream, whose 200 the OP took for a logout)', async () => {
    const main = await (await fetch(`${proxy.url}/.well-known/jwks.json`)).text();
    const jwks = await get('/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(jwks.text).toBe(main);
    expect(jwks.headers['content-type']).toBe('application/json');
    const before = echo.requests;
    const logout = await h2Request(session, { ':method': 'POST', ':path': '/public/logout', 'content-type': 'application/x-www-form-urlencoded' }, 'logout_token=a.b.c');
    expect(logout.status).toBe(404);
    expect(logout.json).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND', message: expect.stringContaining('main listener') });
    expect(echo.requests).toBe(before);
  });
});

describe('HTTP/2 streams are served on node:http2\'s core API with what its compat layer answered', () => {
  it('CONNECT → 405; an Expect other than 100-continue → 417; nothing reaches the upstream', async () => {
    const before = echo.requests;
    const c = await h2Request(session, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    expect(c.status).toBe(405);
    const e = await get('/public/x', { expect: 'something-else' });
    expect(e.status).toBe(417);
    expect(echo.requests).toBe(before);
  });

  it('Expect: 100-continue gets an interim 100, then the body is forwarded and answered', async () => {
    const interim = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/public/upload', expect: '100-continue', 'content-type': 'text/plain' });
      let continued = false;
      let status = 0;
      const chunks: Buffer[] = [];
      req.on('continue', () => { continued = true; req.end('after continue'); });
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('error', reject);
      req.on('close', () => resolve({ continued, status, body: Buffer.concat(chunks).toString() }));
    });
    expect(interim.continued).toBe(true);
    expect(interim.status, interim.body).toBe(200);
    expect(JSON.parse(interim.body)).toMatchObject({ method: 'POST', bodyBytes: 'after continue'.length });
  });
});

describe('X-Forwarded-Client-Cert is the proxy\'s word only', () => {
  it('a client\'s own copy is stripped on both listeners (no client certificate here: none is forwarded)', async () => {
    const forged = 'Hash=00;Subject="CN=admin"';
    const viaH2 = await get('/public/xfcc', { 'x-forwarded-client-cert': forged });
    expect((viaH2.json as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toBeUndefined();
    const viaH1 = await call(`${proxy.url}/public/xfcc`, { headers: { 'x-forwarded-client-cert': forged } });
    expect((viaH1.json as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toBeUndefined();
  });
});

describe('gRPC callers get denials as gRPC statuses (trailers-only, HTTP 200)', () => {
  const call = (method: string, md: grpc.Metadata): Promise<grpc.ServiceError | Buffer> => {
    const client = new grpc.Client(new URL(origin).host, grpc.credentials.createInsecure());
    return new Promise((resolve) => {
      client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), md, { deadline: Date.now() + 5_000 }, (err, res) => {
        client.close();
        resolve(err ?? res!);
      });
    });
  };

  it('no token → UNAUTHENTICATED (16) with the Bearer challenge in the metadata; nothing forwarded', async () => {
    const before = echo.requests;
    const err = await call('/shop.Orders/Get', new grpc.Metadata()) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/token/i);
    expect(String(err.metadata.get('www-authenticate')[0])).toBe('Bearer realm="portcullis"');
    expect(echo.requests).toBe(before);
  });

  it('a token without the method\'s scope → PERMISSION_DENIED (7); a bad token → 16; no such method → UNIMPLEMENTED (12)', async () => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${await as.issueJwt()}`);
    expect((await call('/shop.Orders/Put', md) as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
    const bad = new grpc.Metadata();
    bad.set('authorization', 'Bearer not-a-token');
    expect((await call('/shop.Orders/Get', bad) as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await call('/shop.Nothing/Here', md) as grpc.ServiceError).code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('the raw answer is one HEADERS frame: :status 200, content-type application/grpc, grpc-status and a percent-encoded grpc-message', async () => {
    const r = await h2Request(session, { ':method': 'POST', ':path': '/shop.Orders/Get', 'content-type': 'application/grpc', te: 'trailers' }, Buffer.from([0, 0, 0, 0, 0]));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.headers['grpc-status']).toBe('16');
    expect(String(r.headers['grpc-message'])).not.toMatch(/[^\x20-\x7e]/);
    expect(r.body.length).toBe(0);
  });
});

describe('metrics and access log name the HTTP/2 listener', () => {
  it('portcullis_http2_requests_total{protocol="h2c"}, sessions, and the access log line carries listener/protocol', async () => {
    const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
    expect(m.text).toMatch(/portcullis_http2_requests_total\{protocol="h2c"\} [1-9]/);
    expect(m.text).toMatch(/portcullis_http2_sessions_total [1-9]/);
    expect(m.text).toMatch(/portcullis_requests_total\{route="orders",status="401"\} [1-9]/);
    const line = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.listener === 'http2' && l.route === 'orders');
    await waitFor('line() !== undefined', () => line() !== undefined, 10_000); // access lines come over the proxy's stdout, after the answers
    expect(line()).toMatchObject({ protocol: 'h2c' });
  });
});
