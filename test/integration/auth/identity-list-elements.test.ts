// Identity headers that carry a list (roles, groups, scopes) against a real proxy process:
// an element holding the list's separator (space, tab) or a comma must not reach the upstream
// as two elements — the policy judged it as one, so `["x admin"]` never reads as role `admin`.
// Proxy mode, opaque tokens (introspection) and the decision endpoint share the one encoding.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady, type Answer } from './policy-fixtures.js';
import { introspection, SECRET_ENV } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

const ROUTES = [
  {
    name: 'app', match: { path: '/app/*' }, upstream: 'app',
    auth: { roles: { claim: 'roles', any: ['reader'] } },
    forward: { identity_headers: { 'X-Roles': 'roles', 'X-Groups': 'groups', 'X-Auth-Scopes': 'scope', 'X-Auth-Subject': 'sub' } },
  },
  { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
  { name: 'admin-role', match: { path: '/admin-role/*' }, upstream: 'app', auth: { roles: { claim: 'roles', any: ['admin'] } } },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/lists' }), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'traefik' }] },
    },
    issuers: { demo: issuerFor(as, { introspection: introspection() }) },
    routes: ROUTES,
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** The headers the upstream received (the echo body), asserting the request was forwarded. */
function upstreamSaw(r: Answer): Record<string, string | string[]> {
  expect(r.status, r.text).toBe(200);
  expect(r.json?.upstream).toBe('echo');
  return (r.json as { headers: Record<string, string | string[]> }).headers;
}

/**
 * Every element an upstream could read from a header: split on whitespace (a `scope` reader) or
 * commas (an HTTP list reader), its bytes decoded as latin1 (as Node and Python's WSGI do) or UTF-8.
 */
function elements(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const readings = (Array.isArray(v) ? v : [v]).flatMap((x) => [x, Buffer.from(x, 'latin1').toString('utf8')]);
  return readings.flatMap((x) => x.split(/[\s,]+/)).filter((x) => x !== '');
}

const HOSTILE = [
  { what: 'a space inside a role', claims: { roles: ['reader', 'x admin'] } },
  { what: 'a tab inside a role', claims: { roles: ['reader', 'x\tadmin'] } },
  { what: 'a comma inside a role', claims: { roles: ['reader', 'x,admin'] } },
  { what: 'a comma inside a group', claims: { roles: ['reader'], groups: ['staff', 'ops,admin'] } },
  { what: 'a space inside a group', claims: { roles: ['reader'], groups: ['Domain Users', 'x admin'] } },
  { what: 'a tab in the scope string', claims: { roles: ['reader'], scope: 'read x\tadmin' } },
  { what: 'a comma in the scope string', claims: { roles: ['reader'], scope: 'read x,admin' } },
  { what: 'a space inside an scp element', claims: { roles: ['reader'], scope: undefined, scp: ['read', 'x admin'] } },
  { what: 'a no-break space inside a role (UTF-8 C2 A0: latin1 0xA0 is whitespace)', claims: { roles: ['reader', 'x\u00a0admin'] } },
  { what: 'an à inside a role (UTF-8 C3 A0)', claims: { roles: ['reader', 'x\u00e0admin'] } },
  { what: 'an em space inside a group', claims: { roles: ['reader'], groups: ['x\u2003admin'] } },
  { what: 'scope as an array (the policy reads no scopes from it)', claims: { roles: ['reader'], scope: ['read', 'admin'] } },
];

describe('list elements with separators', () => {
  it('the policy reads each such element as one: no admin scope, no admin role', async () => {
    for (const h of HOSTILE) {
      const token = await as.issueJwt({ sub: 'mallory', ...h.claims });
      expect((await call(`${proxy.url}/admin/x`, { token })).status, h.what).toBe(403);
      expect((await call(`${proxy.url}/admin-role/x`, { token })).status, h.what).toBe(403);
    }
  });

  it('proxy mode (JWT): the upstream never reads `admin` as an element of a list header', async () => {
    for (const h of HOSTILE) {
      const token = await as.issueJwt({ sub: 'mallory', ...h.claims });
      const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
      for (const name of ['x-roles', 'x-groups', 'x-auth-scopes']) {
        expect(elements(seen[name]), `${h.what}: ${name}=${JSON.stringify(seen[name])}`).not.toContain('admin');
      }
      expect(seen['x-auth-subject'], h.what).toBe('mallory');
    }
  });

  it('proxy mode (opaque token, introspection): the same', async () => {
    for (const h of HOSTILE) {
      const token = as.issueOpaque({ sub: 'mallory', ...h.claims });
      const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
      for (const name of ['x-roles', 'x-groups', 'x-auth-scopes']) {
        expect(elements(seen[name]), `${h.what}: ${name}=${JSON.stringify(seen[name])}`).not.toContain('admin');
      }
    }
  });

  it('decision endpoint: the answer headers the edge copies to the app are the same', async () => {
    for (const h of HOSTILE) {
      const token = await as.issueJwt({ sub: 'mallory', ...h.claims });
      const r = await call(`${proxy.url}/_portcullis/auth`, {
        token,
        headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/app/x', 'X-Forwarded-Host': '127.0.0.1', 'X-Forwarded-Proto': 'http' },
      });
      expect(r.status, `${h.what}: ${r.text}`).toBe(200);
      for (const name of ['x-roles', 'x-groups', 'x-auth-scopes']) {
        expect(elements(r.headers[name]), `${h.what}: ${name}=${JSON.stringify(r.headers[name])}`).not.toContain('admin');
      }
      expect(r.headers['x-auth-subject'], h.what).toBe('mallory');
    }
  });

  it('ordinary lists still pass, space-joined; an scp array becomes the scope header', async () => {
    const token = await as.issueJwt({ sub: 'alice', roles: ['reader', 'writer'], groups: ['staff', 'team-1'], scope: 'read write' });
    const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
    expect(seen['x-roles']).toBe('reader writer');
    expect(seen['x-groups']).toBe('staff team-1');
    expect(seen['x-auth-scopes']).toBe('read write');
    const scp = upstreamSaw(await call(`${proxy.url}/app/x`, { token: await as.issueJwt({ sub: 'alice', roles: ['reader'], scope: undefined, scp: ['read', 'write'] }) }));
    expect(scp['x-auth-scopes']).toBe('read write');
  });

  it('a list with a non-ASCII element is omitted whole, the other identity headers stay', async () => {
    const token = await as.issueJwt({ sub: 'alice', roles: ['reader'], groups: ['staff', 'M\u00fcller-Team'], scope: 'read' });
    const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
    expect(seen['x-groups']).toBeUndefined();
    expect(seen['x-roles']).toBe('reader');
    expect(seen['x-auth-scopes']).toBe('read');
    expect(seen['x-auth-subject']).toBe('alice');
  });
});
