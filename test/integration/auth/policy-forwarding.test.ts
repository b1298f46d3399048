// Identity forwarding against a real proxy process: the default X-Auth-* headers, a
// per-route claim→header mapping, client-sent identity headers stripped on every route,
// and forward.authorization strip/keep — including tokens sent in a cookie, a custom
// header or the query, which must not reach the upstream when the route strips credentials.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady, type Answer } from './policy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let token: string;

const SOURCES = { cookie: 'session', header: 'X-Api-Token', query: true };
const ROUTES = [
  { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
  { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
  {
    name: 'tenant', match: { path: '/tenants/:tenant/*' }, upstream: 'app',
    auth: { claims: [{ claim: 'tenant', equals_param: 'tenant' }] },
    forward: { identity_headers: { 'X-Tenant': 'tenant', 'X-User': 'sub', 'X-Roles': 'realm_access.roles' } },
  },
  { name: 'strip', match: { path: '/strip/*' }, upstream: 'app', auth: { token_sources: SOURCES }, forward: { authorization: 'strip' } },
  { name: 'keep', match: { path: '/keep/*' }, upstream: 'app', auth: { token_sources: SOURCES }, forward: { authorization: 'keep' } },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/fwd' }), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: issuerFor(as) },
    routes: ROUTES,
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read profile', client_id: 'web-app', tenant: 'acme', realm_access: { roles: ['reader', 'writer'] } });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** The headers the upstream received (the echo body), asserting the request was forwarded. */
function upstreamSaw(r: Answer): { url: string; headers: Record<string, string | string[]> } {
  expect(r.status, r.text).toBe(200);
  expect(r.json?.upstream).toBe('echo');
  return r.json as { url: string; headers: Record<string, string | string[]> };
}

/** A strip route forwarded alice's identity, the target's Host, and no trace of the token. */
function strippedCleanly(r: Answer): { url: string; headers: Record<string, string | string[]> } {
  const seen = upstreamSaw(r);
  expect(seen.headers['x-auth-subject']).toBe('alice');
  expect(seen.headers['x-auth-client-id']).toBe('web-app');
  expect(seen.headers.host).toBe(`127.0.0.1:${echo.port}`);
  expect(seen.headers.authorization).toBeUndefined();
  expect(JSON.stringify(seen)).not.toContain(token);
  return seen;
}

const FORGED = {
  'X-Auth-Subject': 'mallory', 'x-auth-scopes': 'admin', 'X-Auth-Client-Id': 'evil', 'X-Auth-Issuer': 'https://evil',
  'X-Auth-Anything': 'forged', 'X-Tenant': 'globex', 'X-User': 'root', 'X-Roles': 'admin',
};

describe('identity headers', () => {
  it('the default X-Auth-* headers carry subject, scopes, client id and issuer', async () => {
    const seen = upstreamSaw(await call(`${proxy.url}/orders/1`, { token }));
    expect(seen.headers['x-auth-subject']).toBe('alice');
    expect(seen.headers['x-auth-scopes']).toBe('orders:read profile');
    expect(seen.headers['x-auth-client-id']).toBe('web-app');
    expect(seen.headers['x-auth-issuer']).toBe(as.issuer);
    // a route without its own mapping gets only the defaults
    expect(seen.headers['x-tenant']).toBeUndefined();
  });

  it('a per-route identity_headers mapping replaces the defaults, dotted claims included', async () => {
    const seen = upstreamSaw(await call(`${proxy.url}/tenants/acme/x`, { token }));
    expect(seen.headers['x-tenant']).toBe('acme');
    expect(seen.headers['x-user']).toBe('alice');
    expect(seen.headers['x-roles']).toBe('reader writer');
    expect(seen.headers['x-auth-subject']).toBeUndefined();
  });

  it('client-sent identity headers are stripped on every route, auth: none included', async () => {
    for (const path of ['/public/x', '/orders/1', '/tenants/acme/x', '/strip/x', '/keep/x']) {
      const seen = upstreamSaw(await call(`${proxy.url}${path}`, { ...(path === '/public/x' ? {} : { token }), headers: FORGED }));
      const h = seen.headers;
      for (const v of Object.values(h)) expect(v, `${path}: ${JSON.stringify(h)}`).not.toMatch(/mallory|^admin$|evil|forged|globex|root/);
      expect(h['x-auth-anything'], path).toBeUndefined();
      if (path === '/public/x') {
        for (const name of Object.keys(FORGED)) expect(h[name.toLowerCase()], `${path} ${name}`).toBeUndefined();
      }
      if (path === '/orders/1') expect(h['x-auth-subject']).toBe('alice'); // one value, ours
      if (path === '/tenants/acme/x') expect(h['x-tenant']).toBe('acme');
    }
  });

  it('unrelated client headers still pass', async () => {
    const seen = upstreamSaw(await call(`${proxy.url}/orders/1`, { token, headers: { 'X-Request-Id': 'r-1', 'X-Authorization-Hint': 'kept' } }));
    expect(seen.headers['x-request-id']).toBe('r-1');
    expect(seen.headers['x-authorization-hint']).toBe('kept');
  });
});

describe('forward.authorization', () => {
  it('keep (the default) forwards the inbound Authorization; strip removes it', async () => {
    expect(upstreamSaw(await call(`${proxy.url}/orders/1`, { token })).headers.authorization).toBe(`Bearer ${token}`);
    expect(upstreamSaw(await call(`${proxy.url}/keep/x`, { token })).headers.authorization).toBe(`Bearer ${token}`);
    const stripped = upstreamSaw(await call(`${proxy.url}/strip/x`, { token }));
    expect(stripped.headers.authorization).toBeUndefined();
    expect(stripped.headers['x-auth-subject']).toBe('alice');
  });

  it('strip removes a token sent in the custom header (and the identity and Host headers stay intact)', async () => {
    const seen = strippedCleanly(await call(`${proxy.url}/strip/x`, { headers: { 'X-Api-Token': token, 'X-Other': 'o' } }));
    expect(seen.headers['x-api-token']).toBeUndefined();
    expect(seen.headers['x-other']).toBe('o');
  });

  it('strip removes the token cookie and keeps the other cookies', async () => {
    const seen = strippedCleanly(await call(`${proxy.url}/strip/x`, { headers: { cookie: `theme=dark; session=${token}; lang=en` } }));
    expect(seen.headers.cookie).toBe('theme=dark; lang=en');
    // only the token cookie: no Cookie header left at all
    const only = strippedCleanly(await call(`${proxy.url}/strip/x`, { headers: { cookie: `session=${token}` } }));
    expect(only.headers.cookie).toBeUndefined();
  });

  it('strip removes access_token from the forwarded query and keeps the other parameters', async () => {
    expect(strippedCleanly(await call(`${proxy.url}/strip/x?a=1&access_token=${token}&b=2`)).url).toBe('/strip/x?a=1&b=2');
    expect(strippedCleanly(await call(`${proxy.url}/strip/x?access_token=${token}`)).url).toBe('/strip/x');
    // a percent-encoded parameter name is the same parameter
    expect(strippedCleanly(await call(`${proxy.url}/strip/x?access%5Ftoken=${token}&b=2`)).url).toBe('/strip/x?b=2');
  });

  it('keep forwards the credential where the client put it', async () => {
    expect(upstreamSaw(await call(`${proxy.url}/keep/x`, { headers: { cookie: `theme=dark; session=${token}` } })).headers.cookie).toBe(`theme=dark; session=${token}`);
    expect(upstreamSaw(await call(`${proxy.url}/keep/x?access_token=${token}&b=2`)).url).toBe(`/keep/x?access_token=${token}&b=2`);
    expect(upstreamSaw(await call(`${proxy.url}/keep/x`, { headers: { 'X-Api-Token': token } })).headers['x-api-token']).toBe(token);
  });
});
