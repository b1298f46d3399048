// RFC conformance a strict reviewer checks from outside: an OpenID Connect ID token presented as an
// access token (RFC 9068 §4, RFC 8725 §3.11) on an issuer that does not require `typ: at+jwt`, or
// introspected (RFC 7662) as active; an introspection answer dated in the future; and route scopes that
// are not RFC 6749 §3.3 scope-tokens (the RFC 6750 §3 `scope=` challenge would lie).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import {
  AUDIENCE, SECRET_ENV, asIssuer, bearer, call, echoed, expectBearerError, introspection, notForwarded, startRecorder, waitReady,
  type Recorder, type Reply,
} from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer({ algorithms: ['RS256'] });
  echo = await startEchoUpstream();
  // no require_typ: tokens typed `JWT` (or untyped) are accepted, as many identity providers issue them
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));

/** What an OpenID provider signs as an ID token for a client whose id is also the API's audience. */
const idToken = (extra: Record<string, unknown>): Promise<string> =>
  as.issueJwt({ aud: AUDIENCE, client_id: undefined, azp: AUDIENCE, nonce: 'n-0S6_WzA2Mj', auth_time: Math.floor(Date.now() / 1000), ...extra }, { typ: 'JWT' });

describe('an ID token is no access token (RFC 9068 §4, RFC 8725 §3.11), typ required or not', () => {
  it('control: an access token typed JWT (no at+jwt) with the route scope → 200', async () => {
    const t = await as.issueJwt({}, { typ: 'JWT' });
    expect(echoed(await get(t)).headers['x-auth-subject']).toBe('alice');
    const untyped = await as.issueJwt({}, { typ: '' });
    expect((await get(untyped)).status).toBe(200);
    // a nonce, or an access token's own kind in a claim (Keycloak, Cognito), is no sign of an ID token
    const claimed = await as.issueJwt({ nonce: 'n', typ: 'Bearer', token_use: 'access' }, { typ: 'JWT' });
    expect((await get(claimed)).status).toBe(200);
  });

  it.each<[string, Record<string, unknown>]>([
    ['at_hash (OIDC Core §3.1.3.6: the hash of the access token issued with it)', { at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' }],
    ['c_hash (OIDC Core §3.3.2.11: the hash of the code issued with it)', { c_hash: 'LDktKdoQak3Pk0cnXxCltA' }],
    ['s_hash (FAPI: the hash of the state)', { s_hash: 'x6bKR_xrKqYHtnyG-9Wz6w' }],
    ['a Keycloak-style typ claim "ID"', { typ: 'ID' }],
    ['an AWS Cognito token_use "id"', { token_use: 'id' }],
  ])('an ID token typed JWT carrying %s → 401 invalid_token, nothing forwarded', async (_name, extra) => {
    const r = await refused(await idToken({ scope: 'orders:read', ...extra }));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toMatch(/not an access token/);
  });
});

describe('introspection answers: an ID token and an iat in the future are refused as in a JWT', () => {
  let fake: Recorder;
  let p: ProxyProcess;
  /** token → the JSON the fake introspection endpoint answers. */
  const answers = new Map<string, Record<string, unknown>>();
  /** token → an RFC 9701 signed answer (a JWT) the fake endpoint sends instead. */
  const jwtAnswers = new Map<string, string>();
  /** The token the fake endpoint answers 401 invalid_client for (our client credentials refused). */
  const wrongClient = randomBytes(32).toString('base64url');
  beforeAll(async () => {
    fake = await startRecorder((_req, body, res) => {
      const token = new URLSearchParams(body).get('token') ?? '';
      if (token === wrongClient) { res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="as"' }).end('{"error":"invalid_client"}'); return; }
      const signed = jwtAnswers.get(token);
      if (signed !== undefined) { res.writeHead(200, { 'content-type': 'application/token-introspection+jwt' }).end(signed); return; }
      const a = answers.get(token) ?? { active: false };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
    });
    p = await startProxy(baseConfig(echo.url, {
      issuers: {
        demo: asIssuer(as, { introspection: introspection({ endpoint: `${fake.url}/introspect`, cache_ttl_s: 60 }) }),
        // an AS that answers for tokens of every resource server: an answer must name our audience
        strict: {
          issuer: STRICT_ISS, discovery: false, jwks_uri: `${fake.url}/no-keys`, audiences: [AUDIENCE],
          introspection: introspection({ endpoint: `${fake.url}/introspect`, cache_ttl_s: 60, require_aud: true }),
        },
      },
      routes: [
        { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { issuers: ['demo'] } },
        { name: 'strict', match: { path: '/strict/*' }, upstream: 'app', auth: { issuers: ['strict'] } },
      ],
      verifier: { pool_size: 1 },
    }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
    await waitReady(p);
  });
  afterAll(async () => {
    await p?.stop();
    await fake?.close();
  });

  const now = (): number => Math.floor(Date.now() / 1000);
  const answering = (extra: Record<string, unknown>): string => {
    const t = randomBytes(32).toString('base64url');
    answers.set(t, { active: true, sub: 'bob', iss: as.issuer, exp: now() + 300, iat: now(), token_type: 'Bearer', ...extra });
    return t;
  };
  const getP = (token: string): Promise<Reply> => call(`${p.url}/orders/1`, { headers: bearer(token) });
  const STRICT_ISS = 'https://strict.example';

  it('control: an active answer dated now → 200', async () => {
    expect(echoed(await getP(answering({}))).headers['x-auth-subject']).toBe('bob');
    expect((await getP(answering({ token_use: 'access_token' }))).status).toBe(200);
  });

  it.each<[string, Record<string, unknown>]>([
    ['at_hash (an ID token the AS introspects as active)', { at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q', nonce: 'n' }],
    ['Keycloak typ ID', { typ: 'ID' }],
    ['Keycloak typ Refresh', { typ: 'Refresh' }],
    ['Ory Hydra token_use refresh_token (RFC 7662 §2.1: the AS searches past token_type_hint)', { token_use: 'refresh_token' }],
    ['an events claim (a back-channel logout token or SET the AS calls active)', { events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: 's-1' }],
  ])('an active answer with %s → 401 invalid_token "not an access token", nothing forwarded', async (_name, extra) => {
    const r = await notForwarded(() => echo.requests, () => getP(answering(extra)));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toBe('token is not an access token');
  });

  it('an RFC 9701 signed (JWT) answer → 503, not cached, and the log says signed answers are not supported', async () => {
    const t = randomBytes(32).toString('base64url');
    jwtAnswers.set(t, await as.issueJwt({ token_introspection: { active: true, sub: 'bob' } }, { typ: 'token-introspection+jwt' }));
    const before = fake.hits.length;
    for (let i = 0; i < 2; i++) {
      const r = await notForwarded(() => echo.requests, () => getP(t));
      expect(r.status).toBe(503);
      expect(r.json?.error).toBe('temporarily_unavailable');
    }
    expect(fake.hits.length - before, 'a failed answer is not cached').toBe(2);
    await expect.poll(() => p.logs().some((l) => l.msg === 'introspection failed' && String(l.detail).includes('RFC 9701'))).toBe(true);
  });

  it('a 401 from the AS (our client credentials refused, RFC 7662 §2.3) → 503, never "inactive", not cached, and logged as a credentials problem', async () => {
    const before = fake.hits.length;
    for (let i = 0; i < 2; i++) {
      const r = await notForwarded(() => echo.requests, () => getP(wrongClient));
      expect(r.status).toBe(503);
      expect(r.json?.error).toBe('temporarily_unavailable');
    }
    expect(fake.hits.length - before, 'a failed answer is not cached').toBe(2);
    await expect.poll(() => p.logs().some((l) => l.msg === 'introspection failed' && l.status === 401 && String(l.detail).includes('client credentials'))).toBe(true);
  });

  it('introspection.require_aud: an active answer without aud → 401 "token audience not accepted"; with ours → 200; the default accepts it', async () => {
    const bare = (extra: Record<string, unknown>): string => {
      const t = randomBytes(32).toString('base64url');
      answers.set(t, { active: true, sub: 'bob', exp: now() + 300, token_type: 'Bearer', ...extra });
      return t;
    };
    const strict = (token: string): Promise<Reply> => call(`${p.url}/strict/1`, { headers: bearer(token) });
    const r = await notForwarded(() => echo.requests, () => strict(bare({})));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toBe('token audience not accepted');
    expect((await strict(bare({ aud: [AUDIENCE] }))).status).toBe(200);
    expect((await strict(bare({ aud: AUDIENCE, iss: STRICT_ISS }))).status).toBe(200);
    expect((await getP(bare({}))).status, 'require_aud defaults to false').toBe(200);
  });

  it('an active answer issued an hour ahead (beyond clock_skew_s) → 401 "token issued in the future", as a JWT; within the skew → 200', async () => {
    const r = await notForwarded(() => echo.requests, () => getP(answering({ iat: now() + 3600 })));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toBe('token issued in the future');
    expect((await getP(answering({ iat: now() + 20 }))).status).toBe(200);
  });
});

describe('route scopes are scope-tokens (RFC 6749 §3.3), so the scope= challenge names them exactly (RFC 6750 §3)', () => {
  it('check-config refuses scopes.all / scopes.any that are not scope-tokens, naming every path', async () => {
    const bad = [
      'orders:read orders:write', // a space: two scopes the route would ask for as one, never granted
      'orders"read', // a double quote: dropped from the quoted challenge, which would name another scope
      'orders\\read', // a backslash
      'orders\tread', // a control character
      'commandes:lïre', // non-ASCII
    ];
    const cfg = baseConfig('http://127.0.0.1:9', {
      issuers: { demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', discovery: false, audiences: ['api'] } },
      routes: bad.map((scope, i) => ({ name: `r${i}`, match: { path: `/r${i}/*` }, upstream: 'app', auth: { scopes: { all: ['ok:scope', scope], any: [scope] } } })),
    });
    const r = await runCli(['check-config', '--no-env', writeConfig(cfg)]);
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(2);
    for (let i = 0; i < bad.length; i++) {
      expect(out).toContain(`routes[${i}].auth.scopes.all[1]`);
      expect(out).toContain(`routes[${i}].auth.scopes.any[0]`);
    }
    expect(out).not.toContain('routes[0].auth.scopes.all[0]');
    expect(out).toContain('RFC 6749 §3.3');
  });

  it('control: a token lacking the route scope gets 403 insufficient_scope naming it exactly', async () => {
    expectBearerError(await refused(await as.issueJwt({ scope: 'profile' })), 403, 'insufficient_scope', 'orders:read');
  });
});
