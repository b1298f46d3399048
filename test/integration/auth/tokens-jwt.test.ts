// JWT access tokens end to end (issue 3): `portcullis serve` in front of the echo
// upstream, keys from the demo authorization server (discovery + JWKS) and from a
// fixture issuer, every refusal checked for status, RFC 6750 challenge, JSON error
// and that nothing reached the upstream; identity headers, scopes, credential
// placement, hostile headers (jku/x5u/jwk/x5c, crit, alg confusion) and kid floods.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { fixtureKeys, jwksOf, makeKey } from '../../fixtures/keys.js';
import { accessClaims, forgeSignature, makeToken, nowS, signRaw, tamperPayload, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import {
  AUDIENCE, asIssuer, bearer, call, echoed, expectBearerError, notForwarded, parseChallenge, startRecorder,
  type Recorder, type Reply, waitReady,
} from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let fixtureJwks: Recorder;
let attacker: Recorder;
let proxy: ProxyProcess;
const keys = fixtureKeys();
const evil = makeKey('RS256', 'attacker-1');

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  // a second issuer whose keys we hold, to sign headers jose refuses to produce (crit)
  fixtureJwks = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([keys.RS256, keys.ES256])));
  });
  // the attacker's key server: it would serve the key that verifies the hostile tokens
  attacker = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([evil])));
  });
  const auth = (extra: Record<string, unknown>): Record<string, unknown> => extra;
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      demo: asIssuer(as, { algorithms: ['RS256'], clock_skew_s: 30, max_token_lifetime_s: 3600, require_typ: 'at+jwt' }),
      fixture: { issuer: TEST_ISSUER, jwks_uri: `${fixtureJwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256', 'ES256'] },
    },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders-read', match: { path: '/orders/*', methods: ['GET'] }, upstream: 'app', auth: auth({ scopes: { all: ['orders:read'] } }) },
      { name: 'orders-write', match: { path: '/orders/*', methods: ['POST'] }, upstream: 'app', auth: auth({ scopes: { all: ['orders:write'] } }) },
      { name: 'scope-a', match: { path: '/a/*' }, upstream: 'app', auth: auth({ scopes: { all: ['a'] } }) },
      { name: 'scope-b', match: { path: '/b/*' }, upstream: 'app', auth: auth({ scopes: { all: ['b'] } }) },
      { name: 'scope-mixed', match: { path: '/mixed/*' }, upstream: 'app', auth: auth({ scopes: { all: ['a'], any: ['x', 'y'] } }) },
      { name: 'query', match: { path: '/q/*' }, upstream: 'app', auth: auth({ token_sources: { query: true } }) },
      { name: 'query-strip', match: { path: '/qs/*' }, upstream: 'app', auth: auth({ token_sources: { query: true } }), forward: { authorization: 'strip' } },
      { name: 'cookie', match: { path: '/c/*' }, upstream: 'app', auth: auth({ token_sources: { cookie: 'session' } }) },
      { name: 'cookie-underscore', match: { path: '/cu/*' }, upstream: 'app', auth: auth({ token_sources: { cookie: 'auth_token' } }) },
      { name: 'cookie-dot', match: { path: '/cd/*' }, upstream: 'app', auth: auth({ token_sources: { cookie: 'auth.token' } }) },
      { name: 'cookie-strip', match: { path: '/cs/*' }, upstream: 'app', auth: auth({ token_sources: { cookie: 'session' } }), forward: { authorization: 'strip' } },
      { name: 'fixture-only', match: { path: '/fx/*' }, upstream: 'app', auth: auth({ issuers: ['fixture'] }) },
    ],
    verifier: { pool_size: 2 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), fixtureJwks?.close(), attacker?.close()]);
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> => call(`${proxy.url}${path}`, { method, headers });
const refused = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> =>
  notForwarded(() => echo.requests, () => get(path, headers, method));
const stats = async (): Promise<Record<string, number>> =>
  (await call(`${proxy.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;

describe('no credentials, a valid JWT, identity headers', () => {
  it('no credentials → 401 with a bare `Bearer realm="portcullis"` challenge (no error attribute), nothing forwarded', async () => {
    const r = await refused('/orders/1');
    expectBearerError(r, 401, null);
    // a non-Bearer scheme is not a bearer credential either
    expectBearerError(await refused('/orders/1', { authorization: 'Basic YWxpY2U6cHc=' }), 401, null);
  });

  it('a valid JWT → 200; the upstream sees the identity headers and the token (forward.authorization: keep)', async () => {
    const token = await as.issueJwt({ sub: 'alice', scope: 'orders:read', client_id: 'demo-client' });
    const seen = echoed(await get('/orders/42', bearer(token)));
    expect(seen.url).toBe('/orders/42');
    expect(seen.headers['x-auth-subject']).toBe('alice');
    expect(seen.headers['x-auth-scopes']).toBe('orders:read');
    expect(seen.headers['x-auth-client-id']).toBe('demo-client');
    expect(seen.headers['x-auth-issuer']).toBe(as.issuer);
    expect(seen.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('client-sent X-Auth-* headers never reach the upstream: replaced on auth routes, removed on auth: none', async () => {
    const token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const forged = { 'X-Auth-Subject': 'root', 'x-auth-scopes': 'orders:write admin', 'X-AUTH-ROLES': 'admin' };
    const seen = echoed(await get('/orders/1', { ...bearer(token), ...forged }));
    expect(seen.headers['x-auth-subject']).toBe('alice');
    expect(seen.headers['x-auth-scopes']).toBe('orders:read');
    expect(seen.headers['x-auth-roles']).toBeUndefined();
    const pub = echoed(await get('/public/x', forged));
    expect(Object.keys(pub.headers).filter((k) => k.startsWith('x-auth-'))).toEqual([]);
  });
});

describe('bad JWTs → 401 invalid_token, nothing forwarded', () => {
  const demo = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string =>
    signRaw(evil, { alg: 'RS256', typ: 'at+jwt', ...header }, accessClaims({ claims }, as.issuer, AUDIENCE));
  const cases: Array<[string, () => Promise<string> | string]> = [
    ['signature forged (random bytes)', async () => forgeSignature(await as.issueJwt())],
    ['payload tampered after signing', async () => tamperPayload(await as.issueJwt(), { sub: 'admin', scope: 'orders:read orders:write' })],
    ['signed with a foreign key under the issuer\'s kid', () => demo({}, { kid: 'rs256-1' })],
    ['signed with a foreign key, no kid', () => demo()],
    ['alg none', () => as.issueJwt({}, { alg: 'none' })],
    ['alg none, upper-case and with a signature', async () => { const [, p, s] = (await as.issueJwt()).split('.'); return `${Buffer.from(JSON.stringify({ alg: 'NONE', typ: 'at+jwt', kid: 'rs256-1' })).toString('base64url')}.${p}.${s}`; }],
    ['HS256 keyed with the issuer\'s RSA public key (alg confusion)', () => as.issueJwt({}, { alg: 'HS256' })],
    ['alg not in the issuer allowlist (ES256 by the real key)', () => as.issueJwt({}, { alg: 'ES256' })],
    ['wrong iss', () => as.issueJwt({ iss: `${as.issuer}/other` })],
    ['iss of another issuer, signed with this issuer\'s key', () => as.issueJwt({ iss: TEST_ISSUER, aud: TEST_AUDIENCE })],
    ['wrong aud', () => as.issueJwt({ aud: 'someone-else' })],
    ['aud missing', () => as.issueJwt({ aud: undefined })],
    ['expired beyond the clock skew', () => as.issueJwt({}, { ttlSeconds: -31 - 30 })],
    ['nbf in the future beyond the skew', () => as.issueJwt({ nbf: nowS() + 120 })],
    ['iat in the future beyond the skew', () => as.issueJwt({ iat: nowS() + 120, exp: nowS() + 600 })],
    ['exp missing', () => as.issueJwt({ exp: undefined })],
    ['exp not a number', () => as.issueJwt({ exp: String(nowS() + 600) })],
    ['typ required (require_typ: at+jwt) but missing', () => as.issueJwt({}, { typ: '' })],
    ['typ required but "JWT"', () => as.issueJwt({}, { typ: 'JWT' })],
    ['lifetime over max_token_lifetime_s', () => as.issueJwt({}, { ttlSeconds: 3601 + 60 })],
    ['crit naming an unknown extension (trusted fixture key)', () => makeToken(keys.RS256, { header: { crit: ['x-policy'], 'x-policy': 'strict' } })],
    ['crit empty (trusted fixture key)', () => makeToken(keys.RS256, { header: { crit: [] } })],
  ];

  it.each(cases)('%s', async (_name, make) => {
    const token = await make();
    const r = await refused('/orders/1', bearer(token));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.headers['www-authenticate']).not.toContain(token.split('.')[1]);
    expect(r.text).not.toContain(token);
  });

  it('controls: the same issuers accept a well-formed token (skew honoured, typ optional where not required)', async () => {
    expect((await get('/orders/1', bearer(await as.issueJwt({}, { ttlSeconds: -10 })))).status).toBe(200); // expired 10 s ago, skew 30 s
    expect((await get('/orders/1', bearer(makeToken(keys.RS256, {}))))).toMatchObject({ status: 200 });
    expect((await get('/orders/1', bearer(makeToken(keys.ES256, { header: { typ: undefined } }))))).toMatchObject({ status: 200 });
  });

  it('a token revoked by its hash stays refused when respelled: unused bits set in the last base64url character → 401', async () => {
    const token = await as.issueJwt();
    expect((await get('/orders/1', bearer(token))).status).toBe(200);
    const hash = createHash('sha256').update(token).digest('hex');
    const { request } = await import('undici');
    const rv = await request(`${proxy.adminUrl}/revocations`, { method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'token', value: hash }) });
    expect(rv.statusCode).toBe(201);
    await rv.body.text();
    expect((await get('/orders/1', bearer(token))).status).toBe(401);
    // an RS256 signature is 256 bytes: 342 characters, the last one carries 4 bits no decoder reads
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = token.slice(0, -1) + A[A.indexOf(token[token.length - 1]!) ^ 1];
    expect(Buffer.from(respelled.split('.')[2]!, 'base64url')).toEqual(Buffer.from(token.split('.')[2]!, 'base64url'));
    const r = await refused('/orders/1', bearer(respelled));
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
  });

  it('jku / x5u / jwk / x5c headers pointing at an attacker key are refused and the attacker URL is never fetched', async () => {
    const hostile = [
      demo({}, { kid: evil.kid, jku: `${attacker.url}/jwks.json` }),
      demo({}, { jku: `${attacker.url}/jwks.json` }),
      demo({}, { kid: evil.kid, x5u: `${attacker.url}/cert.pem` }),
      demo({}, { jwk: evil.jwk }),
      demo({}, { kid: evil.kid, jwk: evil.jwk }),
      demo({}, { x5c: [Buffer.from('not a certificate').toString('base64')] }),
      demo({}, { kid: `${attacker.url}/kid.json` }),
      // the real key's kid with an attacker jku: the key must come from the issuer's JWKS only
      demo({}, { kid: 'rs256-1', jku: `${attacker.url}/jwks.json` }),
    ];
    for (const token of hostile) expectBearerError(await refused('/orders/1', bearer(token)), 401, 'invalid_token');
    expect(attacker.hits).toEqual([]);
  });
});

describe('unknown kid', () => {
  // own authorization server and proxy: a fresh refetch budget, no cool-down (the bucket alone limits)
  let as2: AuthServer;
  let p: ProxyProcess;
  beforeAll(async () => {
    as2 = await startAuthServer({ algorithms: ['RS256'] });
    p = await startProxy(baseConfig(echo.url, {
      issuers: { rot: asIssuer(as2, { algorithms: ['RS256'], jwks: { unknown_kid_cooldown_s: 0 } }) },
      routes: [{ name: 'rot', match: { path: '/*' }, upstream: 'app', auth: {} }],
      verifier: { pool_size: 1 },
    }), { env: ADMIN_ENV });
    await waitReady(p);
  });
  afterAll(async () => {
    await p?.stop();
    await as2?.close();
  });

  it('a real key rotation is picked up on the first token with the new kid; a withdrawn key stops working at once', async () => {
    const old = await as2.issueJwt();
    expect((await call(`${p.url}/x`, { headers: bearer(old) })).status).toBe(200);
    const jwksBefore = as2.counters.jwks;
    await as2.rotateKeys({ dropOld: true });
    const fresh = await as2.issueJwt();
    expect(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid).toBe('rs256-2');
    const r = await call(`${p.url}/x`, { headers: bearer(fresh) });
    expect(r.status, r.text).toBe(200);
    expect(as2.counters.jwks - jwksBefore).toBe(1);
    // the old token was cached, but its key left the JWKS with that refetch
    expectBearerError(await call(`${p.url}/x`, { headers: bearer(old) }), 401, 'invalid_token');
  });

  it('200 tokens with random kids: all 401, and the issuer\'s JWKS is fetched at most a handful of times', async () => {
    const before = as2.counters.jwks;
    const tokens = await Promise.all(Array.from({ length: 200 }, () => as2.issueJwt({}, { kid: randomBytes(8).toString('hex') })));
    const upstreamBefore = echo.requests;
    for (let i = 0; i < tokens.length; i += 50) {
      const batch = await Promise.all(tokens.slice(i, i + 50).map((t) => call(`${p.url}/x`, { headers: bearer(t) })));
      for (const r of batch) expectBearerError(r, 401, 'invalid_token');
    }
    expect(echo.requests).toBe(upstreamBefore);
    expect(as2.counters.jwks - before).toBeLessThanOrEqual(3);
    // valid tokens still pass after the flood
    expect((await call(`${p.url}/x`, { headers: bearer(await as2.issueJwt()) })).status).toBe(200);
  });
});

describe('credential placement → 400 invalid_request', () => {
  it('two credentials: header + query on a query route, header + cookie on a cookie route, two Authorization headers', async () => {
    const t = await as.issueJwt();
    expectBearerError(await refused(`/q/1?access_token=${t}`, bearer(t)), 400, 'invalid_request');
    expectBearerError(await refused('/c/1', { ...bearer(t), cookie: `session=${t}` }), 400, 'invalid_request');
    const before = echo.requests;
    const raw = await rawRequest(proxy.port, requestText('GET', '/orders/1', [['Authorization', `Bearer ${t}`], ['Authorization', `Bearer ${t}`]]));
    expect(raw.status).toBe(400);
    expect(parseChallenge(raw.headers['www-authenticate']!).params.error).toBe('invalid_request');
    expect(echo.requests).toBe(before);
  });

  it.each([
    ['empty', 'Bearer'],
    ['empty with trailing spaces', 'Bearer    '],
    ['two values', 'Bearer abc def'],
    ['a comma list', 'Bearer abc, Bearer def'],
    ['characters outside b64token', 'Bearer abc"def'],
    ['the scheme run into a colon (code stripping a `Bearer` prefix reads a token there)', 'Bearer:abc'],
    ['the scheme run into a colon and a space', 'Bearer: abc'],
  ])('malformed Authorization: Bearer (%s)', async (_n, value) => {
    const before = echo.requests;
    const raw = await rawRequest(proxy.port, requestText('GET', '/orders/1', [['Authorization', value]]));
    expect(raw.status).toBe(400);
    expect(parseChallenge(raw.headers['www-authenticate']!).params).toMatchObject({ realm: 'portcullis', error: 'invalid_request' });
    expect(JSON.parse(raw.body.toString())).toMatchObject({ error: 'invalid_request' });
    expect(echo.requests).toBe(before);
  });

  it('a (valid) token in the query where the route does not enable token_sources.query is no credential: 401 with the bare challenge (RFC 6750 §3.1)', async () => {
    const t = await as.issueJwt();
    const r = await refused(`/orders/1?access_token=${t}`);
    expectBearerError(r, 401, null);
    expect(echo.lastRequest?.url ?? '').not.toContain(t);
    // a malformed one is not read either: still no credential
    expectBearerError(await refused('/orders/1?access_token=a%20b'), 401, null);
  });

  it('a query token next to a valid Authorization header on a route without query tokens: 400, never forwarded unverified', async () => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    const r = await refused(`/orders/1?access_token=${t}`, bearer(t));
    expectBearerError(r, 400, 'invalid_request');
  });

  it.each([
    ['a `;` separator', (t: string) => `a=1;access_token=${t}`],
    ['`&amp;`', (t: string) => `a=1&amp;access_token=${t}`],
    ['a PHP-mangled name (access.token)', (t: string) => `access.token=${t}`],
    ['a PHP-mangled name (access token)', (t: string) => `access+token=${t}`],
    ['an array name (access_token[])', (t: string) => `access_token%5B%5D=${t}`],
    ['a name PHP reads without its leading space ( access_token)', (t: string) => `+access_token=${t}`],
    ['a name PHP cuts at its NUL (access_token%00x)', (t: string) => `access_token%00x=${t}`],
    ['a PHP array under a mangled name (access.token[])', (t: string) => `access.token%5B%5D=${t}`],
    ['the name in another case (ASP.NET Core reads query names ignoring case)', (t: string) => `ACCESS_TOKEN=${t}`],
    ['a PHP array behind an escape decodeURIComponent refuses (access.token[%FF])', (t: string) => `access.token%5B%FF%5D=${t}`],
    ['a letter .NET folds onto s (acceſſ_token)', (t: string) => `acce%C5%BF%C5%BF_token=${t}`],
    ['a leading bracket group (qs, Express 4\'s req.query, reads [access_token] as access_token)', (t: string) => `%5Baccess_token%5D=${t}`],
  ])('a query token behind %s next to a valid Authorization header: 400, never forwarded for an upstream parser to find', async (_n, query) => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    const other = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    expectBearerError(await refused(`/orders/1?${query(other)}`, bearer(t)), 400, 'invalid_request');
    expectBearerError(await refused(`/q/1?${query(other)}`, bearer(t)), 400, 'invalid_request');
    // alone on a query route it is not the canonical access_token parameter: refused, not read
    expectBearerError(await refused(`/q/1?${query(other)}`), 400, 'invalid_request');
  });

  it('a cookie named like the token cookie in another case (Session, SESSION) next to a valid Authorization header: 400, never forwarded for a case-insensitive upstream to read', async () => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    const other = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    for (const name of ['Session', 'SESSION']) {
      expectBearerError(await refused('/c/1', { ...bearer(t), cookie: `theme=dark; ${name}=${other}` }), 400, 'invalid_request');
      expectBearerError(await refused('/c/1', { cookie: `session=${t}; ${name}=${other}` }), 400, 'invalid_request');
    }
    // other cookies still pass beside the header token
    expect((await get('/c/1', { ...bearer(t), cookie: 'theme=dark; sessionid=x' })).status).toBe(200);
  });

  it('a token cookie after a comma inside another cookie (Rack 2, Tomcat\'s legacy parser split on commas): 400, never forwarded for such an upstream to read', async () => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    const other = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    expectBearerError(await refused('/c/1', { ...bearer(t), cookie: `theme=dark, session=${other}` }), 400, 'invalid_request');
    // cookie alone: a first-wins comma splitter would take mallory's, the proxy the second
    expectBearerError(await refused('/c/1', { cookie: `theme=dark, session=${other}; session=${t}` }), 400, 'invalid_request');
    // nor does an Authorization that a prefix-stripping upstream reads as Bearer ride beside the cookie token
    expectBearerError(await refused('/c/1', { authorization: `Bearer:${other}`, cookie: `session=${t}` }), 400, 'invalid_request');
    // a comma in another cookie's value is still data
    expect((await get('/c/1', { cookie: `seen=Wed, 21 Oct 2026; session=${t}` })).status).toBe(200);
  });

  it('a cookie PHP reads as the token cookie (auth.token or auth_token[x] for auth_token): 400, never forwarded for PHP to read', async () => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    const other = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    for (const name of ['auth.token', 'auth token', 'auth_token[x]']) {
      expectBearerError(await refused('/cu/1', { ...bearer(t), cookie: `${name}=${other}` }), 400, 'invalid_request');
      expectBearerError(await refused('/cu/1', { cookie: `${name}=${other}; auth_token=${t}` }), 400, 'invalid_request');
    }
    expect(echoed(await get('/cu/1', { cookie: `auth.token.x=1; auth_token=${t}` })).headers['x-auth-subject']).toBe(echoed(await get('/cu/1', bearer(t))).headers['x-auth-subject']);
  });

  it('a token cookie PHP reads under another name (auth.token as auth_token): a cookie of that name is 400, never forwarded', async () => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    const other = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    expectBearerError(await refused('/cd/1', { ...bearer(t), cookie: `auth_token=${other}` }), 400, 'invalid_request');
    expectBearerError(await refused('/cd/1', { cookie: `auth_token=${other}; auth.token=${t}` }), 400, 'invalid_request');
    expect((await get('/cd/1', { cookie: `auth_tokens=1; auth.token=${t}` })).status).toBe(200);
  });

  it('a cookie whose percent-decoded name is the token cookie (%73ession, auth%2Etoken): 400, never forwarded for a name-decoding upstream to read', async () => {
    // Rack before 2.2.3 (CVE-2020-8184), ASP.NET Core before CVE-2020-1045's fix and PHP before 8.1.11 (CVE-2022-31629)
    // decode cookie names: `%73ession=<mallory>; session=<t>` is their first `session` — before, forwarded beside t (or alone after strip)
    const t = await as.issueJwt({ scope: 'orders:read' });
    const other = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    for (const [path, name] of [['/c/1', '%73ession'], ['/c/1', '%53ESSION'], ['/c/1', '%C5%BFession'], ['/cs/1', 'se%73sion'], ['/cu/1', 'auth%2Etoken'], ['/cu/1', 'auth+token'], ['/c/1', 'session%00x'], ['/c/1', 'session%00'], ['/cu/1', 'auth_token%00.x']]) {
      expectBearerError(await refused(path!, { cookie: `${name}=${other}; ${path === '/cu/1' ? 'auth_token' : 'session'}=${t}` }), 400, 'invalid_request');
    }
    expectBearerError(await refused('/c/1', { ...bearer(t), cookie: `%73ession=${other}` }), 400, 'invalid_request');
    expect((await get('/c/1', { cookie: `pref%20s=1; session=${t}` })).status).toBe(200); // another name decoded is still another cookie
  });

  it('query and cookie tokens work where enabled', async () => {
    const t = await as.issueJwt({ sub: 'quinn' });
    expect(echoed(await get(`/q/1?access_token=${t}`)).headers['x-auth-subject']).toBe('quinn');
    expect(echoed(await get('/c/1', { cookie: `theme=dark; session=${t}` })).headers['x-auth-subject']).toBe('quinn');
  });

  it('forward.authorization: strip keeps a query or cookie token from the upstream too', async () => {
    const t = await as.issueJwt({ sub: 'quinn' });
    const q = echoed(await get(`/qs/1?a=1&access_token=${t}&b=2`));
    expect(q.headers['x-auth-subject']).toBe('quinn');
    expect(q.url).not.toContain(t);
    expect(q.url).toBe('/qs/1?a=1&b=2');
    const c = echoed(await get('/cs/1', { cookie: `theme=dark; session=${t}; lang=en` }));
    expect(c.headers['x-auth-subject']).toBe('quinn');
    expect(JSON.stringify(c.headers)).not.toContain(t);
    expect(c.headers.cookie).toBe('theme=dark; lang=en');
  });
});

describe('scopes → 403 insufficient_scope', () => {
  it('names the required scope in the challenge and the body; nothing forwarded', async () => {
    const t = await as.issueJwt({ scope: 'orders:read' });
    expectBearerError(await refused('/orders/1', bearer(t), 'POST'), 403, 'insufficient_scope', 'orders:write');
    // all + any: every scope the route names, all first
    expectBearerError(await refused('/mixed/1', bearer(await as.issueJwt({ scope: 'a' }))), 403, 'insufficient_scope', 'a x y');
    expect((await get('/mixed/1', bearer(await as.issueJwt({ scope: 'a y' })))).status).toBe(200);
  });

  it('Oathkeeper #743: a token accepted (and cached) on a route needing `a` is refused on a route needing `b`', async () => {
    const t = await as.issueJwt({ scope: 'a' });
    expect((await get('/a/1', bearer(t))).status).toBe(200);
    const hits = (await stats())['jwt.cache_hits']!;
    expectBearerError(await refused('/b/1', bearer(t)), 403, 'insufficient_scope', 'b');
    expect((await stats())['jwt.cache_hits']).toBe(hits + 1); // judged from the cache, still refused
    expect((await get('/a/1', bearer(t))).status).toBe(200);
    // and the other way round: first refused, then accepted where it fits
    const u = await as.issueJwt({ scope: 'b' });
    expectBearerError(await refused('/a/1', bearer(u)), 403, 'insufficient_scope', 'a');
    expect((await get('/b/1', bearer(u))).status).toBe(200);
  });

  it('an issuer not allowed on the route is refused even with a cached, valid token', async () => {
    const t = await as.issueJwt();
    expect((await get('/orders/1', bearer(t))).status).toBe(200);
    expectBearerError(await refused('/fx/1', bearer(t)), 401, 'invalid_token');
    expect((await get('/fx/1', bearer(makeToken(keys.RS256)))).status).toBe(200);
  });
});
