// Per-route authorization against a real proxy process and live authorization servers:
// scopes all/any, claim predicates on dotted paths, Keycloak-style roles, claim = path
// parameter, per-route issuer restriction, default deny, auth: none, most specific route.
import { createHash } from 'node:crypto';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, runCli, writeConfig, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let main: AuthServer;
let second: AuthServer;
let third: AuthServer; // configured, but not allowed on the restricted routes
let rogue: AuthServer; // not configured at all
let echo: EchoUpstream;
let proxy: ProxyProcess;

const ROUTES = [
  { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
  { name: 'scopes-all', match: { path: '/all/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read', 'orders:write'] } } },
  { name: 'scopes-any', match: { path: '/any/*' }, upstream: 'app', auth: { scopes: { any: ['orders:read', 'admin'] } } },
  { name: 'c-equals', match: { path: '/claims/equals' }, upstream: 'app', auth: { claims: [{ claim: 'email_verified', equals: true }] } },
  { name: 'c-dotted-equals', match: { path: '/claims/org' }, upstream: 'app', auth: { claims: [{ claim: 'org.id', equals: 'o-1' }] } },
  { name: 'c-one-of', match: { path: '/claims/one-of' }, upstream: 'app', auth: { claims: [{ claim: 'acr', one_of: ['gold', 'silver'] }] } },
  { name: 'c-contains', match: { path: '/claims/contains' }, upstream: 'app', auth: { claims: [{ claim: 'realm_access.roles', contains: 'admin' }] } },
  { name: 'c-exists', match: { path: '/claims/exists' }, upstream: 'app', auth: { claims: [{ claim: 'org', exists: true }] } },
  { name: 'c-absent', match: { path: '/claims/absent' }, upstream: 'app', auth: { claims: [{ claim: 'act.sub', exists: false }] } },
  { name: 'kc-all', match: { path: '/kc/all' }, upstream: 'app', auth: { roles: { claim: 'realm_access.roles', all: ['reader', 'writer'] } } },
  { name: 'kc-any', match: { path: '/kc/any' }, upstream: 'app', auth: { roles: { claim: 'realm_access.roles', any: ['reader', 'auditor'] } } },
  { name: 'roles-default', match: { path: '/roles' }, upstream: 'app', auth: { roles: { any: ['ops'] } } },
  // a Keycloak client id with a dot: the quoted key keeps it (before, the dots split it and no token passed)
  { name: 'kc-client-dot', match: { path: '/kc/client' }, upstream: 'app', auth: { roles: { claim: 'resource_access."api.billing".roles', any: ['payer'] } } },
  { name: 'tenant', match: { path: '/tenants/:tenant/*' }, upstream: 'app', auth: { claims: [{ claim: 'tenant', equals_param: 'tenant' }] } },
  { name: 'two-issuers', match: { path: '/partners/*' }, upstream: 'app', auth: { issuers: ['main', 'second'] } },
  { name: 'token-only', match: { path: '/token-only' }, upstream: 'app', auth: {} },
  // most specific wins: literal > :param > *, and a method-restricted route over an unrestricted one
  { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { scopes: { all: ['api:read'] } } },
  { name: 'api-admin', match: { path: '/api/admin/*' }, upstream: 'app', auth: { scopes: { all: ['api:admin'] } } },
  { name: 'api-health', match: { path: '/api/health' }, upstream: 'app', auth: 'none' },
  { name: 'api-order', match: { path: '/api/orders/:id' }, upstream: 'app', auth: { scopes: { all: ['api:read', 'orders:read'] } } },
  { name: 'api-order-get', match: { path: '/api/orders/:id', methods: ['GET'] }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
];

beforeAll(async () => {
  [main, second, third, rogue, echo] = await Promise.all([
    startAuthServer({ issuerPath: '/realms/main' }),
    startAuthServer({ issuerPath: '/realms/second', algorithms: ['ES256'] }),
    startAuthServer({ issuerPath: '/realms/third' }),
    startAuthServer({ issuerPath: '/realms/rogue' }),
    startEchoUpstream(),
  ]);
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { main: issuerFor(main), second: issuerFor(second), third: issuerFor(third) },
    routes: ROUTES,
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([main?.close(), second?.close(), third?.close(), rogue?.close(), echo?.close()]);
});

const tok = (claims: Record<string, unknown>, as: AuthServer = main): Promise<string> => as.issueJwt(claims);
async function status(path: string, token?: string, method = 'GET'): Promise<number> {
  return (await call(`${proxy.url}${path}`, { method, ...(token !== undefined ? { token } : {}) })).status;
}

describe('scopes', () => {
  it('scopes.all needs every scope; otherwise 403 insufficient_scope naming the required scopes', async () => {
    expect(await status('/all/x', await tok({ scope: 'orders:write profile orders:read' }))).toBe(200);
    const r = await call(`${proxy.url}/all/x`, { token: await tok({ scope: 'orders:read' }) });
    expect(r.status).toBe(403);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis", error="insufficient_scope", .*scope="orders:read orders:write"/);
    expect(r.json).toMatchObject({ error: 'insufficient_scope', code: 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE' });
    const none = await call(`${proxy.url}/all/x`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
  });

  it('scopes.any needs at least one of them', async () => {
    expect(await status('/any/x', await tok({ scope: 'admin' }))).toBe(200);
    expect(await status('/any/x', await tok({ scope: 'orders:read' }))).toBe(200);
    expect(await status('/any/x', await tok({ scope: 'profile orders:readx' }))).toBe(403);
    expect(await status('/any/x', await tok({ scope: undefined }))).toBe(403);
  });
});

describe('claim predicates', () => {
  it('equals is strict about type, also on a dotted path', async () => {
    expect(await status('/claims/equals', await tok({ email_verified: true }))).toBe(200);
    expect(await status('/claims/equals', await tok({ email_verified: 'true' }))).toBe(403);
    expect(await status('/claims/equals', await tok({}))).toBe(403);
    expect(await status('/claims/org', await tok({ org: { id: 'o-1' } }))).toBe(200);
    expect(await status('/claims/org', await tok({ org: { id: 'o-2' } }))).toBe(403);
    expect(await status('/claims/org', await tok({ org: 'o-1' }))).toBe(403);
  });

  it('one_of accepts exactly the listed values', async () => {
    expect(await status('/claims/one-of', await tok({ acr: 'gold' }))).toBe(200);
    expect(await status('/claims/one-of', await tok({ acr: 'silver' }))).toBe(200);
    expect(await status('/claims/one-of', await tok({ acr: 'bronze' }))).toBe(403);
    expect(await status('/claims/one-of', await tok({ acr: ['gold'] }))).toBe(403);
    expect(await status('/claims/one-of', await tok({}))).toBe(403);
  });

  it('contains looks into a nested array (realm_access.roles)', async () => {
    expect(await status('/claims/contains', await tok({ realm_access: { roles: ['user', 'admin'] } }))).toBe(200);
    expect(await status('/claims/contains', await tok({ realm_access: { roles: ['user', 'administrator'] } }))).toBe(403);
    expect(await status('/claims/contains', await tok({ realm_access: {} }))).toBe(403);
    expect(await status('/claims/contains', await tok({}))).toBe(403);
  });

  it('exists true needs the claim; exists false refuses a token that has it', async () => {
    expect(await status('/claims/exists', await tok({ org: 'acme' }))).toBe(200);
    expect(await status('/claims/exists', await tok({}))).toBe(403);
    expect(await status('/claims/absent', await tok({}))).toBe(200);
    expect(await status('/claims/absent', await tok({ act: { sub: 'service-a' } }))).toBe(403);
  });

  it('a refused claim is a 403 with a stable deny reason in the access log', async () => {
    const token = await tok({ acr: 'bronze' });
    // this request's own line, by its token's fingerprint: a count of the path's lines taken before it included
    // lines of the requests above still on their way, and "one more" was then one of theirs (a 200)
    const fp = createHash('sha256').update(token).digest('hex').slice(0, 16);
    const line = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === '/claims/one-of' && l.token === fp);
    const r = await call(`${proxy.url}/claims/one-of`, { token });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_FORBIDDEN' });
    // the access line comes over the proxy's stdout, after the answer
    await waitFor("the request's access line", () => line() !== undefined, 10_000, { detail: () => proxy.output().slice(-2000) });
    expect(line()).toMatchObject({ status: 403, deny: 'claim_mismatch:acr' });
  });
});

describe('roles', () => {
  it('a quoted key with dots (Keycloak client id api.billing under resource_access) is one key', async () => {
    expect(await status('/kc/client', await tok({ resource_access: { 'api.billing': { roles: ['payer'] } } }))).toBe(200);
    expect(await status('/kc/client', await tok({ resource_access: { 'api.billing': { roles: ['viewer'] } } }))).toBe(403);
    // the nested reading of the same dots is another claim
    expect(await status('/kc/client', await tok({ resource_access: { api: { billing: { roles: ['payer'] } } } }))).toBe(403);
  });

  it('Keycloak realm_access.roles: all needs every role', async () => {
    expect(await status('/kc/all', await tok({ realm_access: { roles: ['writer', 'reader', 'x'] } }))).toBe(200);
    expect(await status('/kc/all', await tok({ realm_access: { roles: ['reader'] } }))).toBe(403);
    expect(await status('/kc/all', await tok({ roles: ['reader', 'writer'] }))).toBe(403);
  });

  it('Keycloak realm_access.roles: any needs one role', async () => {
    expect(await status('/kc/any', await tok({ realm_access: { roles: ['auditor'] } }))).toBe(200);
    expect(await status('/kc/any', await tok({ realm_access: { roles: ['writer'] } }))).toBe(403);
    expect(await status('/kc/any', await tok({}))).toBe(403);
  });

  it('the default roles claim is `roles`', async () => {
    expect(await status('/roles', await tok({ roles: ['ops'] }))).toBe(200);
    expect(await status('/roles', await tok({ realm_access: { roles: ['ops'] } }))).toBe(403);
  });
});

describe('claim against a path parameter', () => {
  it('/tenants/:tenant/* needs claims.tenant == :tenant', async () => {
    const acme = await tok({ tenant: 'acme' });
    expect(await status('/tenants/acme/orders/1', acme)).toBe(200);
    expect(await status('/tenants/other/orders/1', acme)).toBe(403);
    expect(await status('/tenants/acme/orders/1', await tok({}))).toBe(403);
    expect(await status('/tenants/acme/orders/1')).toBe(401);
    // the parameter is compared after path normalisation: an encoded letter is the same tenant
    expect(await status('/tenants/ac%6De/x', acme)).toBe(200);
  });

  it('an escaped parameter is compared as the upstream reads it, decoded: a claim holding the escape itself is another tenant', async () => {
    // the upstream's router decodes :tenant (Express, Spring, JAX-RS…): /tenants/acme%26co/x is tenant "acme&co".
    // Before, the raw "acme%26co" was compared: a token whose tenant claim was that text reached acme&co's data,
    // and acme&co's own token (what encodeURIComponent makes of its name) got 403
    const upstreamTenant = (r: { json: Record<string, any> | null }): string => decodeURIComponent(String(r.json?.url).split('/')[2]!);
    const escaped = await call(`${proxy.url}/tenants/acme%26co/x`, { token: await tok({ tenant: 'acme%26co' }) });
    expect(escaped.status, escaped.text).toBe(403);
    const own = await call(`${proxy.url}/tenants/acme%26co/x`, { token: await tok({ tenant: 'acme&co' }) });
    expect(own.status, own.text).toBe(200);
    expect(upstreamTenant(own)).toBe('acme&co');
    expect(await status('/tenants/acme&co/x', await tok({ tenant: 'acme&co' }))).toBe(200);
    // a non-ASCII name arrives escaped from every client
    const munich = await call(`${proxy.url}/tenants/m%C3%BCnchen/x`, { token: await tok({ tenant: 'münchen' }) });
    expect(munich.status, munich.text).toBe(200);
    expect(upstreamTenant(munich)).toBe('münchen');
    expect(await status('/tenants/m%C3%BCnchen/x', await tok({ tenant: 'm%C3%BCnchen' }))).toBe(403);
    // its decomposed spelling (u + U+0308) is münchen to an upstream that folds to NFC/NFKC: equal to no claim
    expect(await status('/tenants/mu%CC%88nchen/x', await tok({ tenant: 'mu\u0308nchen' }))).toBe(403);
    // an escape that is not UTF-8 equals no claim
    expect(await status('/tenants/m%FCnchen/x', await tok({ tenant: 'm%FCnchen' }))).toBe(403);
    expect(await status('/tenants/m%FCnchen/x', await tok({ tenant: 'm\ufffdnchen' }))).toBe(403);
  });
});

describe('issuers', () => {
  it('a route restricted to two issuers accepts both', async () => {
    expect(await status('/partners/x', await tok({}, main))).toBe(200);
    expect(await status('/partners/x', await tok({}, second))).toBe(200);
  });

  it('a token of a configured issuer the route does not allow is refused with 401 invalid_token', async () => {
    const t = await tok({ scope: 'orders:read' }, third);
    expect(await status('/token-only', t)).toBe(200); // the token itself is fine
    const r = await call(`${proxy.url}/partners/x`, { token: t });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
  });

  it('a token of an issuer that is not configured is 401 invalid_token everywhere', async () => {
    const t = await tok({}, rogue);
    for (const p of ['/partners/x', '/token-only']) {
      const r = await call(`${proxy.url}${p}`, { token: t });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    }
  });
});

describe('default deny and auth: none', () => {
  it('a route without an auth block is refused at start and by check-config, naming its path', async () => {
    const cfg = baseConfig(echo.url, {
      issuers: { main: issuerFor(main) },
      routes: [
        { name: 'ok', match: { path: '/ok/*' }, upstream: 'app', auth: 'none' },
        { name: 'forgot', match: { path: '/forgot/*' }, upstream: 'app' },
      ],
    });
    const file = writeConfig(cfg);
    const check = await runCli(['check-config', file]);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain('routes[1].auth: required');
    const serve = await runCli(['serve', '--config', file], ADMIN_ENV, 8_000);
    expect(serve.code).toBe(2);
    expect(serve.stdout).not.toContain('"listening"');
  });

  it('an empty auth block still requires a valid token', async () => {
    expect(await status('/token-only')).toBe(401);
    expect(await status('/token-only', await tok({ scope: undefined }))).toBe(200);
    expect(await status('/token-only', `${await tok({})}x`)).toBe(401);
  });

  it('a path no route matches is 404 even with a valid token', async () => {
    const r = await call(`${proxy.url}/nowhere`, { token: await tok({}) });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
  });

  it('auth: none forwards without a token, and ignores a bad one', async () => {
    expect(await status('/public/x')).toBe(200);
    expect(await status('/public/x', 'not.a.jwt')).toBe(200);
  });
});

describe('most specific route wins', () => {
  it('literal beats :param beats *, and a method-restricted route beats an unrestricted one', async () => {
    const read = await tok({ scope: 'api:read' });
    const orders = await tok({ scope: 'orders:read' });
    expect(await status('/api/health')).toBe(200); // literal, auth none, despite /api/*
    expect(await status('/api/things', read)).toBe(200);
    expect(await status('/api/things', orders)).toBe(403);
    expect(await status('/api/admin/users', read)).toBe(403); // /api/admin/* over /api/*
    expect(await status('/api/admin/users', await tok({ scope: 'api:admin' }))).toBe(200);
    expect(await status('/api/orders/7', orders)).toBe(200); // GET route
    expect(await status('/api/orders/7', orders, 'HEAD')).toBe(200); // GET implies HEAD
    expect(await status('/api/orders/7', orders, 'DELETE')).toBe(403); // the any-method route needs api:read too
    expect(await status('/api/orders/7', await tok({ scope: 'api:read orders:read' }), 'DELETE')).toBe(200);
    expect(await status('/api/orders/7/lines', orders)).toBe(403); // not :id, falls back to /api/*
  });
});
