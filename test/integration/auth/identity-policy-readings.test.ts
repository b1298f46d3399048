// A claim the route's policy judged and the identity header the upstream reads must be one reading:
// a string roles claim forwarded as a list, an `scp` header beside a disagreeing `scope`, and a
// claim path that names both a literal dotted key and a nested claim, against a real proxy process.
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
    auth: { roles: { claim: 'roles', any: ['reader'] }, claims: [{ claim: 'groups', contains: 'staff' }] },
    forward: { identity_headers: { 'X-Roles': 'roles', 'X-Groups': 'groups', 'X-Scp': 'scp', 'X-Auth-Subject': 'sub' } },
  },
  {
    name: 'realm', match: { path: '/realm/*' }, upstream: 'app',
    auth: { roles: { claim: 'realm_access.roles', any: ['admin'] } },
    forward: { identity_headers: { 'X-Realm-Roles': 'realm_access.roles' } },
  },
  {
    name: 'ad', match: { path: '/ad/*' }, upstream: 'app',
    auth: { roles: { claim: 'groups', any: ['Domain Admins'] } },
  },
  {
    name: 'realm-claim', match: { path: '/realm-claim/*' }, upstream: 'app',
    auth: { claims: [{ claim: 'realm_access.tier', equals: 'gold' }] },
  },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/readings' }), startEchoUpstream()]);
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

/** The headers the upstream received (the echo body); null when the request was not forwarded. */
function upstreamSaw(r: Answer): Record<string, string | string[]> | null {
  if (r.status !== 200) return null;
  expect(r.json?.upstream).toBe('echo');
  return (r.json as { headers: Record<string, string | string[]> }).headers;
}

/** Every element an upstream could read from a list header: split on whitespace or commas, latin1 or UTF-8. */
function elements(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const readings = (Array.isArray(v) ? v : [v]).flatMap((x) => [x, Buffer.from(x, 'latin1').toString('utf8')]);
  return readings.flatMap((x) => x.split(/[\s,]+/)).filter((x) => x !== '');
}

// string claims the policy reads as space-separated lists (roles, `contains`): an element holding
// another separator reads as a second element upstream
const STRING_LISTS = [
  { what: 'a comma inside a word of a roles string', claims: { roles: 'reader x,admin', groups: ['staff'] } },
  { what: 'a tab inside a roles string', claims: { roles: 'reader x\tadmin', groups: ['staff'] } },
  { what: 'a no-break space inside a roles string', claims: { roles: 'reader x\u00a0admin', groups: ['staff'] } },
  { what: 'a comma inside a groups string a contains rule reads', claims: { roles: ['reader'], groups: 'staff x,admin' } },
  { what: 'an ideographic space inside a groups string', claims: { roles: ['reader'], groups: 'staff x\u3000admin' } },
];

describe('a string claim the policy reads as a list', () => {
  it('never reaches the upstream with an element the policy did not judge (JWT, opaque, decision)', async () => {
    for (const h of STRING_LISTS) {
      for (const kind of ['jwt', 'opaque'] as const) {
        const token = kind === 'jwt' ? await as.issueJwt({ sub: 'mallory', ...h.claims }) : as.issueOpaque({ sub: 'mallory', ...h.claims });
        const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
        expect(seen, `${h.what} (${kind}): forwarded`).not.toBeNull();
        for (const name of ['x-roles', 'x-groups']) {
          expect(elements(seen![name]), `${h.what} (${kind}): ${name}=${JSON.stringify(seen![name])}`).not.toContain('admin');
        }
        expect(seen!['x-auth-subject']).toBe('mallory');
      }
      const token = await as.issueJwt({ sub: 'mallory', ...h.claims });
      const r = await call(`${proxy.url}/_portcullis/auth`, {
        token,
        headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/app/x', 'X-Forwarded-Host': '127.0.0.1', 'X-Forwarded-Proto': 'http' },
      });
      expect(r.status, `${h.what}: ${r.text}`).toBe(200);
      for (const name of ['x-roles', 'x-groups']) expect(elements(r.headers[name]), `${h.what}: ${name}`).not.toContain('admin');
    }
  });

  it('an ordinary space-separated string still goes out as written', async () => {
    const token = await as.issueJwt({ sub: 'alice', roles: 'reader writer', groups: 'staff team-1' });
    const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
    expect(seen?.['x-roles']).toBe('reader writer');
    expect(seen?.['x-groups']).toBe('staff team-1');
  });
});

describe('a role with a space against a string claim', () => {
  it('two words of the string are two roles, never the one role that spans them', async () => {
    for (const groups of ['Domain Admins', 'Domain Users Domain Admins', 'Domain  Admins']) {
      expect((await call(`${proxy.url}/ad/x`, { token: await as.issueJwt({ sub: 'mallory', groups }) })).status, groups).toBe(403);
    }
    expect((await call(`${proxy.url}/ad/x`, { token: as.issueOpaque({ sub: 'mallory', groups: 'Domain Admins' }) })).status).toBe(403);
    expect((await call(`${proxy.url}/ad/x`, { token: await as.issueJwt({ sub: 'alice', groups: ['Domain Users', 'Domain Admins'] }) })).status).toBe(200);
  });
});

describe('an scp header beside a scope string', () => {
  it('carries the scopes the policy judged (the scope string), not the other claim', async () => {
    const token = await as.issueJwt({ sub: 'alice', roles: ['reader'], groups: ['staff'], scope: 'read', scp: ['read', 'admin'] });
    const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
    expect(seen).not.toBeNull();
    expect(elements(seen!['x-scp']), JSON.stringify(seen!['x-scp'])).not.toContain('admin');
    expect(seen!['x-scp']).toBe('read');
    const opaque = upstreamSaw(await call(`${proxy.url}/app/x`, { token: as.issueOpaque({ sub: 'alice', roles: ['reader'], groups: ['staff'], scope: 'read', scp: ['read', 'admin'] }) }));
    expect(opaque!['x-scp']).toBe('read');
  });

  it('carries the scp array when the token has no scope string', async () => {
    const token = await as.issueJwt({ sub: 'alice', roles: ['reader'], groups: ['staff'], scope: undefined, scp: ['read', 'write'] });
    expect(upstreamSaw(await call(`${proxy.url}/app/x`, { token }))!['x-scp']).toBe('read write');
  });
});

describe('a claim path naming both a literal dotted key and a nested claim', () => {
  it('is refused when the two disagree: the issuer and the upstream read the nested one', async () => {
    const both = await as.issueJwt({ sub: 'mallory', 'realm_access.roles': ['admin'], realm_access: { roles: ['user'] } });
    expect((await call(`${proxy.url}/realm/x`, { token: both })).status).toBe(403);
    const tier = await as.issueJwt({ sub: 'mallory', 'realm_access.tier': 'gold', realm_access: { tier: 'free' } });
    expect((await call(`${proxy.url}/realm-claim/x`, { token: tier })).status).toBe(403);
    const opaque = as.issueOpaque({ sub: 'mallory', 'realm_access.roles': ['admin'], realm_access: { roles: ['user'] } });
    expect((await call(`${proxy.url}/realm/x`, { token: opaque })).status).toBe(403);
  });

  it('either one alone, or both the same, still passes', async () => {
    for (const claims of [
      { realm_access: { roles: ['admin'] } },
      { 'realm_access.roles': ['admin'] },
      { 'realm_access.roles': ['admin'], realm_access: { roles: ['admin'] } },
    ]) {
      const seen = upstreamSaw(await call(`${proxy.url}/realm/x`, { token: await as.issueJwt({ sub: 'alice', ...claims }) }));
      expect(seen?.['x-realm-roles'], JSON.stringify(claims)).toBe('admin');
    }
  });
});
