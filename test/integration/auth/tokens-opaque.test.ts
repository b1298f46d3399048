// Opaque tokens through RFC 7662 introspection at the demo authorization server:
// identity from the introspection answer, inactive → 401, the server down or slow →
// 503 with Retry-After (never 200, never cached as inactive), one call per token
// however many requests wait for it, cached answers, and both client auth methods.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import {
  INTROSPECTION_SECRET, SECRET_ENV, asIssuer, bearer, call, echoed, expectBearerError, expectUnavailable, introspection,
  notForwarded, startRecorder, waitReady, type Recorder, type Reply,
} from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let relay: Recorder;
let proxy: ProxyProcess;
const TIMEOUT_MS = 400;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  // a pass-through in front of the AS introspection endpoint that records how the proxy authenticated
  relay = await startRecorder(async (req, body, res) => {
    const headers: Record<string, string> = { 'content-type': String(req.headers['content-type'] ?? '') };
    if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
    // /lenient plays an authorization server that reads a token's base64 leniently (+ / for - _, padding,
    // and — as Node's Buffer decoder does — skipping characters outside the alphabet such as ~)
    const form = new URLSearchParams(body);
    if (req.url === '/lenient') form.set('token', (form.get('token') ?? '').replace(/\+/g, '-').replace(/\//g, '_').replace(/~/g, '').replace(/=+$/, ''));
    const r = await fetch(as.introspectionEndpoint, { method: 'POST', headers, body: req.url === '/lenient' ? form.toString() : body });
    res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text());
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      // endpoint from discovery, client_secret_basic by default
      demo: asIssuer(as, { introspection: introspection({ cache_ttl_s: 60, negative_ttl_s: 5, timeout_ms: TIMEOUT_MS }) }),
      basic: asIssuer(as, { introspection: introspection({ auth_method: 'client_secret_basic', endpoint: `${relay.url}/basic` }) }),
      post: asIssuer(as, { introspection: introspection({ auth_method: 'client_secret_post', endpoint: `${relay.url}/post` }) }),
      lenient: asIssuer(as, { introspection: introspection({ auth_method: 'client_secret_post', endpoint: `${relay.url}/lenient` }) }),
    },
    // the four entries share the issuer and audience: each route names the one it means (a route accepting
    // several such entries is refused — which one judged a token would depend on config order)
    routes: [
      { name: 'orders-read', match: { path: '/orders/*', methods: ['GET'] }, upstream: 'app', auth: { issuers: ['demo'], scopes: { all: ['orders:read'] } } },
      { name: 'orders-write', match: { path: '/orders/*', methods: ['POST'] }, upstream: 'app', auth: { issuers: ['demo'], scopes: { all: ['orders:write'] } } },
      { name: 'via-basic', match: { path: '/basic/*' }, upstream: 'app', auth: { issuers: ['basic'] } },
      { name: 'via-post', match: { path: '/post/*' }, upstream: 'app', auth: { issuers: ['post'] } },
      { name: 'via-lenient', match: { path: '/lenient/*' }, upstream: 'app', auth: { issuers: ['lenient'] } },
    ],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  as?.setIntrospection('normal');
  await Promise.all([as?.close(), echo?.close(), relay?.close()]);
});

const get = (path: string, token: string, method = 'GET'): Promise<Reply> => call(`${proxy.url}${path}`, { method, headers: bearer(token) });
const refused = (path: string, token: string, method = 'GET'): Promise<Reply> => notForwarded(() => echo.requests, () => get(path, token, method));

describe('opaque tokens', () => {
  it('active → 200 with identity headers taken from the introspection answer', async () => {
    const t = as.issueOpaque({ sub: 'bob', scope: 'orders:read orders:write', client_id: 'billing' });
    const seen = echoed(await get('/orders/7', t));
    expect(seen.headers['x-auth-subject']).toBe('bob');
    expect(seen.headers['x-auth-scopes']).toBe('orders:read orders:write');
    expect(seen.headers['x-auth-client-id']).toBe('billing');
    expect(seen.headers['x-auth-issuer']).toBe(as.issuer);
  });

  it('active but lacking the route scope → 403 insufficient_scope, nothing forwarded', async () => {
    const t = as.issueOpaque({ scope: 'orders:read' });
    expectBearerError(await refused('/orders/7', t, 'POST'), 403, 'insufficient_scope', 'orders:write');
  });

  it('active with nbf beyond the clock skew → 401 invalid_token "token not yet valid", as a JWT would be; within the skew → 200', async () => {
    const now = Math.floor(Date.now() / 1000);
    const early = as.issueOpaque({ scope: 'orders:read', nbf: now + 600 });
    const r = await refused('/orders/7', early);
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json).toMatchObject({ message: 'token not yet valid' });
    expect((await get('/orders/7', as.issueOpaque({ scope: 'orders:read', nbf: now + 5 }))).status).toBe(200);
  });

  it('a JWT respelled with = padding is refused as a malformed JWT (401), never sent to the AS, which would strip the padding and call it active', async () => {
    const jwt = await as.issueJwt({ scope: 'orders:read' });
    expect((await get('/orders/7', jwt)).status).toBe(200);
    const calls = as.counters.introspection;
    for (const padded of [`${jwt}=`, `${jwt}==`]) { // b64token allows = only at the end (in the middle: 400 invalid_request)
      const r = await refused('/orders/7', padded);
      expectBearerError(r, 401, 'invalid_token');
    }
    expect(as.counters.introspection - calls).toBe(0);
  });

  it('active: false (unknown or revoked at the AS) → 401 invalid_token; the inactive answer is cached for negative_ttl_s', async () => {
    const unknown = randomBytes(32).toString('base64url');
    const calls = as.counters.introspection;
    expectBearerError(await refused('/orders/7', unknown), 401, 'invalid_token');
    expectBearerError(await refused('/orders/7', unknown), 401, 'invalid_token');
    expect(as.counters.introspection - calls).toBe(1);
    const revoked = as.issueOpaque();
    as.revokeOpaque(revoked);
    expectBearerError(await refused('/orders/7', revoked), 401, 'invalid_token');
  });

  it('AS down → 503 with Retry-After, never 200, not cached as inactive: the same token passes once the AS is back', async () => {
    const t = as.issueOpaque({ sub: 'carol' });
    as.setIntrospection('down');
    try {
      const calls = as.counters.introspection;
      for (let i = 0; i < 3; i++) expectUnavailable(await refused('/orders/7', t));
      expect(as.counters.introspection - calls).toBe(3); // a failure is never served from a cache
    } finally {
      as.setIntrospection('normal');
    }
    expect(echoed(await get('/orders/7', t)).headers['x-auth-subject']).toBe('carol');
  });

  it('AS slower than timeout_ms → 503 with Retry-After from the timeout, not the late answer', async () => {
    const t = as.issueOpaque({ sub: 'dave' });
    as.setIntrospection('slow', 2_000);
    try {
      const t0 = Date.now();
      // the AS answers 200 after 2 s: only the 400 ms timeout can make this a 503
      expectUnavailable(await refused('/orders/7', t));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    } finally {
      as.setIntrospection('normal');
    }
    expect(echoed(await get('/orders/7', t)).headers['x-auth-subject']).toBe('dave');
  });

  it('20 concurrent requests with the same new token → exactly 1 introspection call; repeats within cache_ttl_s → none', async () => {
    const t = as.issueOpaque({ sub: 'erin' });
    const calls = as.counters.introspection;
    const replies = await Promise.all(Array.from({ length: 20 }, () => get('/orders/7', t)));
    for (const r of replies) expect(echoed(r).headers['x-auth-subject']).toBe('erin');
    expect(as.counters.introspection - calls).toBe(1);
    for (let i = 0; i < 5; i++) expect((await get('/orders/7', t)).status).toBe(200);
    expect(as.counters.introspection - calls).toBe(1);
  });

  it('client_secret_basic and client_secret_post both authenticate at the AS, each exactly as configured', async () => {
    const t = as.issueOpaque({ sub: 'frank' });
    expect(echoed(await get('/basic/1', t)).headers['x-auth-subject']).toBe('frank');
    expect(echoed(await get('/post/1', t)).headers['x-auth-subject']).toBe('frank');
    const basic = relay.hits.filter((h) => h.url === '/basic');
    const post = relay.hits.filter((h) => h.url === '/post');
    expect(basic).toHaveLength(1);
    expect(post).toHaveLength(1);
    expect(basic[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`portcullis:${INTROSPECTION_SECRET}`).toString('base64')}`);
    const bp = new URLSearchParams(basic[0]!.body);
    expect(bp.get('token')).toBe(t);
    expect(bp.has('client_secret')).toBe(false);
    expect(post[0]!.headers.authorization).toBeUndefined();
    const pp = new URLSearchParams(post[0]!.body);
    expect(pp.get('token')).toBe(t);
    expect(pp.get('client_id')).toBe('portcullis');
    expect(pp.get('client_secret')).toBe(INTROSPECTION_SECRET);
    for (const h of [...basic, ...post]) expect(h.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('a JWT respelled in the standard base64 alphabet (+ and / for - and _) is refused as malformed, not introspected under a hash a revocation never saw', async () => {
    let t = '';
    for (let i = 0; i < 200 && !/[-_]/.test(t); i++) t = await as.issueJwt({ scope: 'orders:read', n: i });
    expect(t).toMatch(/[-_]/);
    expect((await get('/lenient/1', t)).status).toBe(200);
    const r = await request(`${proxy.adminUrl}/revocations`, {
      method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'token', value: createHash('sha256').update(t).digest('hex') }),
    });
    expect(r.statusCode, await r.body.text()).toBe(201);
    expectBearerError(await refused('/lenient/1', t), 401, 'invalid_token');
    const respelled = t.replace(/-/g, '+').replace(/_/g, '/');
    expectBearerError(await refused('/lenient/1', respelled), 401, 'invalid_token');
  });

  it('a JWT with a ~ in its signature (a character Node\'s Buffer base64 decoder skips) is refused as malformed, not introspected under a hash a revocation never saw', async () => {
    const t = await as.issueJwt({ scope: 'orders:read', n: 'tilde' });
    const d = t.lastIndexOf('.');
    const tilde = `${t.slice(0, d + 3)}~${t.slice(d + 3)}`;
    // a Buffer-based verifier reads the same signature bytes: the same signed token
    expect(Buffer.from(tilde.slice(d + 1), 'base64url')).toEqual(Buffer.from(t.slice(d + 1), 'base64url'));
    const r = await request(`${proxy.adminUrl}/revocations`, {
      method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'token', value: createHash('sha256').update(t).digest('hex') }),
    });
    expect(r.statusCode, await r.body.text()).toBe(201);
    expectBearerError(await refused('/lenient/1', t), 401, 'invalid_token');
    expectBearerError(await refused('/lenient/1', tilde), 401, 'invalid_token');
    // in the header too
    expectBearerError(await refused('/lenient/1', `${t.slice(0, 4)}~${t.slice(4)}`), 401, 'invalid_token');
  });
});
