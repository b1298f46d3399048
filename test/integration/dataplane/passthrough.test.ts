// Passthrough through a real `portcullis serve`: methods and bodies, HEAD, 204/304,
// chunked responses, hop-by-hop headers both ways, X-Forwarded-*, identity headers,
// host rewrite, strip_prefix/path_prefix, routing specificity and the 404 body.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request, Client } from 'undici';
import { connect } from 'node:net';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';

interface Echo { upstream: string; method: string; url: string; headers: Record<string, string>; bodyBytes: number }

let echo: EchoUpstream;
let other: EchoUpstream;
let scripted: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream({ name: 'app' });
  other = await startEchoUpstream({ name: 'other' });
  scripted = await startScriptedUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/empty') { res.writeHead(200, { 'content-length': '0', 'x-empty': 'yes' }); res.end(); return; }
      if (req.url === '/empty-chunked') { res.writeHead(200, { 'x-empty': 'chunked' }); res.end(); return; }
      // Hop-by-hop response headers the proxy must not relay.
      res.writeHead(200, {
        'content-type': 'text/plain',
        connection: 'keep-alive, x-hop-resp',
        'keep-alive': 'timeout=5',
        'x-hop-resp': 'secret',
        'proxy-authenticate': 'Basic',
        // the upstream's own proxy credentials (README: removed both ways), an h2c upgrade's settings
        'proxy-authorization': 'Basic dXBzdHJlYW06c2VjcmV0',
        'proxy-connection': 'keep-alive',
        'http2-settings': 'AAMAAABkAAQAAP__',
        trailer: 'x-trailer',
        upgrade: 'h2c',
        'x-end-to-end': 'kept',
        'set-cookie': ['a=1', 'b=2'],
      });
      res.end('hello');
    });
  });
  const cfg = baseConfig(echo.url, {
    upstreams: {
      app: { targets: [echo.url] },
      other: { targets: [other.url] },
      preserve: { targets: [echo.url], host: 'preserve' },
      literal: { targets: [echo.url], host: 'internal.example' },
      prefixed: { targets: [echo.url], path_prefix: '/v2' },
      scripted: { targets: [scripted.url] },
    },
    routes: [
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
      { name: 'api', match: { path: '/api/*' }, upstream: 'other', auth: 'none' },
      { name: 'api-export', match: { path: '/api/orders/export' }, upstream: 'app', auth: 'none' },
      { name: 'api-order', match: { path: '/api/orders/:id' }, upstream: 'other', auth: 'none' },
      { name: 'api-order-post', match: { path: '/api/orders/:id', methods: ['POST'] }, upstream: 'app', auth: 'none' },
      { name: 'by-host', match: { path: '/*', host: 'tenant.example.com' }, upstream: 'other', auth: 'none' },
      { name: 'preserve', match: { path: '/preserve/*' }, upstream: 'preserve', auth: 'none' },
      { name: 'literal', match: { path: '/literal/*' }, upstream: 'literal', auth: 'none' },
      { name: 'svc', match: { path: '/svc/*' }, upstream: 'prefixed', auth: 'none', strip_prefix: '/svc' },
      { name: 'hop', match: { path: '/hop' }, upstream: 'scripted', auth: 'none' },
      { name: 'empty', match: { path: '/empty' }, upstream: 'scripted', auth: 'none' },
      { name: 'empty-chunked', match: { path: '/empty-chunked' }, upstream: 'scripted', auth: 'none' },
    ],
  });
  proxy = await startProxy(cfg, { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), other?.close(), scripted?.close()]);
});

async function get(path: string, init: Parameters<typeof request>[1] = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const r = await request(`${proxy.url}${path}`, init);
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}

async function echoOf(path: string, init: Parameters<typeof request>[1] = {}): Promise<Echo> {
  const r = await get(path, init);
  expect(r.status).toBe(200);
  return JSON.parse(r.text) as Echo;
}

describe('methods and bodies', () => {
  it('GET reaches the upstream with path and query untouched', async () => {
    const e = await echoOf('/hello/world?a=1&b=%20x');
    expect(e).toMatchObject({ upstream: 'app', method: 'GET', url: '/hello/world?a=1&b=%20x', bodyBytes: 0 });
  });

  it('TRACE and TRACK on a route for any method → 404, nothing forwarded (the upstream would echo identity headers back); OPTIONS and PATCH pass', async () => {
    const before = echo.requests;
    const trace = await rawRequest(proxy.port, requestText('TRACE', '/hello', [['X-Probe', '1']]));
    expect(trace.status).toBe(404);
    expect(JSON.parse(trace.body.toString())).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
    // TRACK: 404 by the route table, or (the pinned uWS build) the connection closed unanswered
    const track = await rawRequest(proxy.port, requestText('TRACK', '/hello', [['X-Probe', '1']]));
    expect([0, 404]).toContain(track.status);
    expect(echo.requests).toBe(before);
    for (const m of ['OPTIONS', 'PATCH']) expect((await echoOf('/hello', { method: m })).method).toBe(m);
  });

  it('POST streams a 1 MiB body with content-length', async () => {
    const body = Buffer.alloc(1024 * 1024, 7);
    const e = await echoOf('/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(e).toMatchObject({ method: 'POST', bodyBytes: body.length });
    expect(e.headers['content-length']).toBe(String(body.length));
  });

  it('a chunked request body arrives complete', async () => {
    const r = await rawRequest(proxy.port, requestText('PUT', '/chunked-in', [['Transfer-Encoding', 'chunked']], '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toMatchObject({ method: 'PUT', bodyBytes: 11 });
  });

  it('Expect: 100-continue (curl does this for large uploads) gets 100 Continue, then the body goes through', async () => {
    const out = await new Promise<string>((resolve) => {
      const s = connect(proxy.port, '127.0.0.1');
      let buf = '';
      let sent = false;
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        if (!sent && buf.includes('100 Continue')) { sent = true; s.write('0123456789'); }
        if (/\r\n\r\n\{.*\}$/s.test(buf.slice(buf.indexOf('HTTP/1.1 2') >= 0 ? buf.indexOf('HTTP/1.1 2') : buf.length))) s.end();
      });
      s.on('close', () => resolve(buf));
      s.on('error', () => resolve(buf));
      s.write('PUT /upload-expect HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n');
      setTimeout(() => s.destroy(), 3_000);
    });
    expect(out).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const e = JSON.parse(out.slice(out.indexOf('{'))) as Echo;
    expect(e).toMatchObject({ method: 'PUT', bodyBytes: 10 });
    expect(e.headers.expect).toBeUndefined();
  });

  it('HEAD returns the headers (content-length included) and no body', async () => {
    const r = await rawRequest(proxy.port, requestText('HEAD', '/bytes/1000'), { head: true, timeoutMs: 1_000 });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('1000');
    expect(r.body.length).toBe(0);
    // and the connection is still usable: a GET on a fresh request works
    expect((await get('/bytes/10')).text).toBe('x'.repeat(10));
  });

  it('204 and 304 carry no body and keep the connection usable', async () => {
    const r204 = await rawRequest(proxy.port, requestText('GET', '/status/204'), { timeoutMs: 2_000 });
    expect(r204.status).toBe(204);
    expect(r204.headers['content-length']).toBeUndefined();
    expect(r204.headers['transfer-encoding']).toBeUndefined();
    expect(r204.closed).toBe(false);
    // One keep-alive connection: a mis-framed 204/304/HEAD would corrupt the next response.
    const client = new Client(proxy.url, { pipelining: 1 });
    try {
      for (const [method, path, status] of [['GET', '/status/204', 204], ['GET', '/status/304', 304], ['HEAD', '/bytes/100', 200], ['GET', '/bytes/5', 200]] as const) {
        const r = await client.request({ method, path });
        expect(r.statusCode, path).toBe(status);
        expect(await r.body.text(), path).toBe(path === '/bytes/5' ? 'xxxxx' : '');
      }
    } finally {
      await client.close();
    }
  });

  it('an empty 200 (content-length: 0 or chunked) completes with Content-Length: 0', async () => {
    for (const path of ['/empty', '/empty-chunked']) {
      const r = await rawRequest(proxy.port, requestText('GET', path), { timeoutMs: 2_000 });
      expect(r.status, path).toBe(200);
      expect(r.headers['content-length'], path).toBe('0');
      expect(r.body.length).toBe(0);
      expect(r.closed, `${path}: response must be complete without waiting for close`).toBe(false);
    }
  });

  it('HEAD of an error answers with the JSON body length and no body', async () => {
    const r = await rawRequest(proxy.port, requestText('HEAD', '/a%2Fb'), { head: true, timeoutMs: 1_000 });
    expect(r.status).toBe(400);
    expect(Number(r.headers['content-length'])).toBeGreaterThan(10);
    expect(Number(r.headers['content-length'])).toBeLessThan(1000);
    expect(r.body.length).toBe(0);
  });

  it('chunked upstream responses stream through completely', async () => {
    const r = await get('/chunked/1000000');
    expect(r.status).toBe(200);
    expect(r.text.length).toBe(1_000_000);
    expect(r.headers['content-length']).toBeUndefined();
  });

  it('a large content-length response arrives complete', async () => {
    const r = await get('/bytes/5000000');
    expect(r.headers['content-length']).toBe('5000000');
    expect(r.text.length).toBe(5_000_000);
  });

  it('upstream status codes pass through', async () => {
    expect((await get('/status/418')).status).toBe(418);
    expect((await get('/status/503')).status).toBe(503);
  });
});

describe('headers', () => {
  it('request hop-by-hop headers and the ones Connection names are removed', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/hop-req', [
      ['Connection', 'keep-alive, X-Custom-Hop'],
      ['X-Custom-Hop', 'must-go'],
      ['Keep-Alive', 'timeout=5'],
      ['TE', 'trailers'],
      ['Trailer', 'X-Foo'],
      ['Upgrade', 'websocket'],
      ['Proxy-Authorization', 'Basic c2VjcmV0'],
      ['Proxy-Connection', 'keep-alive'],
      ['X-End-To-End', 'stays'],
    ]));
    expect(r.status).toBe(200);
    const h = (JSON.parse(r.body.toString()) as Echo).headers;
    for (const k of ['x-custom-hop', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection']) expect(h[k], k).toBeUndefined();
    expect(h.connection ?? 'keep-alive').not.toMatch(/x-custom-hop/i);
    expect(h['x-end-to-end']).toBe('stays');
  });

  it('a Connection header naming one field alone removes that field too (the single-option fast path)', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/hop-one', [['Connection', ' X-Single-Hop '], ['X-Single-Hop', 'must-go'], ['X-End-To-End', 'stays']]));
    const h = (JSON.parse(r.body.toString()) as Echo).headers;
    expect(h['x-single-hop']).toBeUndefined();
    expect(h['x-end-to-end']).toBe('stays');
  });

  it('a chunked request reaches the upstream without the client\'s Transfer-Encoding framing leaking', async () => {
    const r = await rawRequest(proxy.port, requestText('POST', '/te', [['Transfer-Encoding', 'chunked']], '3\r\nabc\r\n0\r\n\r\n'));
    const e = JSON.parse(r.body.toString()) as Echo;
    expect(e.bodyBytes).toBe(3);
  });

  it('response hop-by-hop headers and the ones Connection names are removed; others kept', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/hop'));
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('hello');
    const names = r.headerList.map(([k]) => k);
    for (const k of ['x-hop-resp', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'http2-settings', 'trailer', 'upgrade']) expect(names, k).not.toContain(k);
    expect(r.headers['x-end-to-end']).toBe('kept');
    expect(r.headerList.filter(([k]) => k === 'set-cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
  });

  it('X-Forwarded-For is appended to, -Proto and -Host are set by the proxy', async () => {
    const e = await echoOf('/xff', { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', host: 'front.example:8443' } });
    expect(e.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(e.headers['x-forwarded-proto']).toBe('http'); // not trusted by default
    expect(e.headers['x-forwarded-host']).toBe('front.example:8443');
    const plain = await echoOf('/xff');
    expect(plain.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('client-sent identity headers (x-auth-*) never reach the upstream', async () => {
    const e = await echoOf('/identity', { headers: { 'x-auth-subject': 'admin', 'X-Auth-Scopes': 'everything', 'x-authz': 'not-identity' } });
    expect(e.headers['x-auth-subject']).toBeUndefined();
    expect(e.headers['x-auth-scopes']).toBeUndefined();
    expect(e.headers['x-authz']).toBe('not-identity');
  });

  it('Host: target (default) rewrites to the target, preserve keeps the client\'s, a literal is sent as is', async () => {
    const upstreamHost = new URL(echo.url).host;
    expect((await echoOf('/h', { headers: { host: 'client.example' } })).headers.host).toBe(upstreamHost);
    expect((await echoOf('/preserve/h', { headers: { host: 'client.example' } })).headers.host).toBe('client.example');
    expect((await echoOf('/literal/h', { headers: { host: 'client.example' } })).headers.host).toBe('internal.example');
  });
});

describe('paths and routing', () => {
  it('strip_prefix and path_prefix rewrite the forwarded path, query kept', async () => {
    expect((await echoOf('/svc/orders/1?x=1')).url).toBe('/v2/orders/1?x=1');
    expect((await echoOf('/svc')).url).toBe('/v2');
    expect((await echoOf('/svc/a/')).url).toBe('/v2/a/');
  });

  it('the most specific route wins', async () => {
    expect((await echoOf('/api/orders/export')).upstream).toBe('app'); // literal over :param
    expect((await echoOf('/api/orders/42')).upstream).toBe('other'); // :param over *
    expect((await echoOf('/api/orders/42', { method: 'POST', body: 'x' })).upstream).toBe('app'); // method list over any
    expect((await echoOf('/api/users')).upstream).toBe('other');
    expect((await echoOf('/apix')).upstream).toBe('app');
    expect((await echoOf('/api/users', { headers: { host: 'tenant.example.com:8080' } })).upstream).toBe('other');
    expect((await echoOf('/anything', { headers: { host: 'TENANT.example.com' } })).upstream).toBe('other'); // host over path
  });

  it('the forwarded path is the normalised one', async () => {
    expect((await echoOf('/api/x/../orders/export')).url).toBe('/api/orders/export');
    expect((await echoOf('/a//b/./c')).url).toBe('/a/b/c');
  });
});

describe('404', () => {
  let p2: ProxyProcess;
  beforeAll(async () => {
    p2 = await startProxy(baseConfig(echo.url, { routes: [{ name: 'only-get', match: { path: '/only', methods: ['GET'] }, upstream: 'app', auth: 'none' }] }), { env: ADMIN_ENV });
  });
  afterAll(async () => { await p2?.stop(); });

  it('no route → 404 with a JSON error body, nothing forwarded', async () => {
    const before = echo.requests;
    for (const [method, path] of [['GET', '/nope'], ['POST', '/only'], ['GET', '/only/x']] as const) {
      const r = await request(`${p2.url}${path}`, { method });
      expect(r.statusCode, `${method} ${path}`).toBe(404);
      expect(r.headers['content-type']).toBe('application/json');
      expect(await r.body.json()).toMatchObject({ error: 'not_found', code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
    }
    // HEAD answered with an error straight from the request handler (regression: this
    // used to abort the whole process inside uWS).
    for (const path of ['/nope', '/a%2Fb']) {
      const r = await rawRequest(p2.port, requestText('HEAD', path), { head: true, timeoutMs: 1_000 });
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(Number(r.headers['content-length'])).toBeGreaterThan(0);
      expect(r.body.length).toBe(0);
    }
    const ok = await request(`${p2.url}/only`);
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    expect(echo.requests).toBe(before + 1);
  });
});
