// Intermediary obligations of RFC 9110 on both listeners (README "HTTP semantics"): Max-Forwards
// on OPTIONS/TRACE lowered by one, and at 0 answered by the proxy with nothing forwarded; a
// client's Connection header cannot remove a field the proxy sets; 1xx interim answers and Via.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { startProxy, baseConfig, waitReady, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { startScriptedUpstream, startFixtureJwks, fixtureIssuer, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { fixtureKeys } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { waitFor } from '../../helpers/wait.js';

let upstream: ScriptedUpstream;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;
let h2: ClientHttp2Session;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => {
    req.resume();
    // two interim answers before the final one: Early Hints with a Link, then another
    if ((req.url ?? '').startsWith('/hints')) { res.writeEarlyHints({ link: '</a.css>; rel=preload; as=style' }); res.writeEarlyHints({ link: '</b.js>; rel=preload' }); }
    const via = (req.url ?? '').startsWith('/via') ? { via: '1.1 backend' } : {};
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2, ...via }).end('ok');
  });
  jwks = await startFixtureJwks();
  proxy = await startProxy(baseConfig(upstream.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'nginx' }] },
    },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'trace', match: { path: '/trace/*', methods: ['TRACE'] }, upstream: 'app', auth: 'none' },
      { name: 'jwt', match: { path: '/jwt/*' }, upstream: 'app', auth: {} },
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy, 30_000); // a bound: the JWKS fetch at start is late on a loaded machine
  h2 = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  h2?.close();
  await proxy?.stop();
  await upstream?.close();
  await jwks?.close();
});

/** What the upstream saw for `path` (undefined: nothing was forwarded). */
const seenAt = (path: string) => upstream.seen.find((s) => s.url === path);

describe('Max-Forwards (RFC 9110 §7.6.2)', () => {
  it('HTTP/1.1: OPTIONS and TRACE go upstream with one hop fewer; other methods carry it unchanged', async () => {
    expect((await rawRequest(proxy.port, requestText('OPTIONS', '/mf/opt5', [['Max-Forwards', '5']]))).status).toBe(200);
    expect(seenAt('/mf/opt5')?.headers['max-forwards']).toBe('4');
    expect((await rawRequest(proxy.port, requestText('TRACE', '/trace/one', [['Max-Forwards', '1']]))).status).toBe(200);
    expect(seenAt('/trace/one')?.headers['max-forwards']).toBe('0');
    // named in Connection, it is this hop's alone
    expect((await rawRequest(proxy.port, requestText('OPTIONS', '/mf/named', [['Max-Forwards', '5'], ['Connection', 'Max-Forwards']]))).status).toBe(200);
    expect(seenAt('/mf/named')?.headers['max-forwards']).toBeUndefined();
    expect((await rawRequest(proxy.port, requestText('GET', '/mf/get0', [['Max-Forwards', '0']]))).status).toBe(200);
    expect(seenAt('/mf/get0')?.headers['max-forwards']).toBe('0');
  });

  it('HTTP/1.1: OPTIONS and TRACE with Max-Forwards 0 are answered by the proxy, nothing forwarded', async () => {
    for (const [method, path] of [['OPTIONS', '/mf/opt0'], ['TRACE', '/trace/zero']] as const) {
      const r = await rawRequest(proxy.port, requestText(method, path, [['Max-Forwards', '0']]));
      expect(r.status, method).toBe(501);
      expect(JSON.parse(r.body.toString()).code).toBe('PORTCULLIS_ERR_MAX_FORWARDS_ZERO');
      expect(seenAt(path), method).toBeUndefined();
    }
    // on a protected route too, before any token is asked for
    const r = await rawRequest(proxy.port, requestText('OPTIONS', '/jwt/opt0', [['Max-Forwards', '0']]));
    expect(r.status).toBe(501);
    expect(seenAt('/jwt/opt0')).toBeUndefined();
    const line = () => proxy.logs().find((l) => l.msg === 'request' && l.path === '/mf/opt0');
    await waitFor('the access-log line of /mf/opt0', () => line() !== undefined);
    expect(line()).toMatchObject({ status: 501, deny: 'max_forwards_zero' });
  });

  it('at a decision endpoint the count is the edge\'s: an OPTIONS with Max-Forwards 0 is judged as any other', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/_portcullis/auth', [['X-Original-Method', 'OPTIONS'], ['X-Original-URI', '/mf/edge'], ['Max-Forwards', '0']]));
    expect(r.status, r.raw).toBe(200);
  });

  it('HTTP/2: the same', async () => {
    expect((await h2Request(h2, { ':method': 'OPTIONS', ':path': '/mf/h2opt3', 'max-forwards': '3' })).status).toBe(200);
    expect(seenAt('/mf/h2opt3')?.headers['max-forwards']).toBe('2');
    const r = await h2Request(h2, { ':method': 'OPTIONS', ':path': '/mf/h2opt0', 'max-forwards': '0' });
    expect(r.status).toBe(501);
    expect(r.json?.code).toBe('PORTCULLIS_ERR_MAX_FORWARDS_ZERO');
    expect(seenAt('/mf/h2opt0')).toBeUndefined();
  });
});

describe('fields the proxy sets, interim answers, Via', () => {
  it('a client naming the proxy\'s own fields in Connection does not remove them; the fields it names of its own are removed', async () => {
    const token = makeToken(fixtureKeys().RS256);
    const r = await rawRequest(proxy.port, requestText('GET', '/jwt/nominate', [
      ['Authorization', `Bearer ${token}`], ['X-Mine', 'dropped'],
      ['Connection', 'X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Auth-Subject, X-Auth-Client-Id, Host, X-Mine'],
    ]));
    expect(r.status).toBe(200);
    const h = seenAt('/jwt/nominate')!.headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('127.0.0.1');
    expect(h['x-auth-subject']).toBe('alice');
    expect(h['x-auth-client-id']).toBe('orders-ui');
    expect(h.host).toBeDefined();
    expect(h['x-mine']).toBeUndefined();
    expect(h.connection ?? '').not.toMatch(/x-/i);
  });

  it('1xx interim answers (103 Early Hints) are not relayed on either listener; the final answer is whole; no Via either way', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/hints/h1'));
    expect(r.raw.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(r.raw).not.toContain('103');
    expect(r.body.toString()).toBe('ok');
    expect(r.headers.via).toBeUndefined();
    expect(r.headers.date).toBeDefined();
    expect(seenAt('/hints/h1')?.headers.via).toBeUndefined();
    const r2 = await h2Request(h2, { ':method': 'GET', ':path': '/hints/h2' });
    expect(r2.status).toBe(200);
    expect(r2.text).toBe('ok');
    expect(r2.headers.link).toBeUndefined();
    expect(r2.headers.date).toBeDefined();
    // an upstream's own Via passes as it was sent
    expect((await rawRequest(proxy.port, requestText('GET', '/via/h1'))).headers.via).toBe('1.1 backend');
    expect((await h2Request(h2, { ':method': 'GET', ':path': '/via/h2' })).headers.via).toBe('1.1 backend');
  });
});
