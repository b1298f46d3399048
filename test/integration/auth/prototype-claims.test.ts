// Prototype keys as claim names, claim paths, scope and role values, and inside the claims of a
// signed JWT and of an introspection answer, through a real proxy process: an inherited property
// (Object.prototype.toString, constructor) never answers a rule, and an own `__proto__` claim never
// becomes the prototype the other claims are read through.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady } from './policy-fixtures.js';
import { SECRET_ENV, introspection } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

const ROUTES = [
  { name: 'c-tostring', match: { path: '/c/tostring' }, upstream: 'app', auth: { claims: [{ claim: 'toString', exists: true }] } },
  { name: 'c-constructor', match: { path: '/c/constructor' }, upstream: 'app', auth: { claims: [{ claim: 'constructor', exists: true }] } },
  { name: 'c-ctor-name', match: { path: '/c/ctor-name' }, upstream: 'app', auth: { claims: [{ claim: 'constructor.name', equals: 'Object' }] } },
  { name: 'c-proto-admin', match: { path: '/c/proto-admin' }, upstream: 'app', auth: { claims: [{ claim: 'admin', equals: true }] } },
  { name: 'c-hasown', match: { path: '/c/hasown' }, upstream: 'app', auth: { claims: [{ claim: 'hasOwnProperty', exists: true }] } },
  { name: 's-admin', match: { path: '/s/admin' }, upstream: 'app', auth: { scopes: { any: ['admin'] } } },
  { name: 's-tostring', match: { path: '/s/tostring' }, upstream: 'app', auth: { scopes: { any: ['toString', 'constructor', '__proto__'] } } },
  { name: 'r-ctor', match: { path: '/r/ctor' }, upstream: 'app', auth: { roles: { any: ['constructor', 'toString', '__proto__', 'hasOwnProperty'] } } },
  { name: 'r-proto', match: { path: '/r/proto' }, upstream: 'app', auth: { roles: { claim: '__proto__.roles', any: ['ops'] } } },
  { name: 'r-realm', match: { path: '/r/realm' }, upstream: 'app', auth: { roles: { claim: 'realm_access.roles', any: ['ops'] } } },
  { name: 'tenant', match: { path: '/t/:tenant' }, upstream: 'app', auth: { claims: [{ claim: 'tenant', equals_param: 'tenant' }] } },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/main' }), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { main: issuerFor(as, { introspection: introspection() }) },
    routes: ROUTES,
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const status = async (path: string, token: string): Promise<number> => (await call(`${proxy.url}${path}`, { token })).status;
/** Claims with an OWN `__proto__` key (an object literal's `__proto__:` would set the prototype instead). */
const withProto = (proto: unknown, rest: Record<string, unknown> = {}): Record<string, unknown> => JSON.parse(JSON.stringify({ ...rest, ['__proto__']: proto })) as Record<string, unknown>;

describe('a JWT without the claim: no inherited property answers', () => {
  it.each(['/c/tostring', '/c/constructor', '/c/ctor-name', '/c/hasown', '/c/proto-admin', '/r/ctor', '/r/proto', '/r/realm', '/s/tostring', '/s/admin'])('%s → 403', async (path) => {
    expect(await status(path, await as.issueJwt({ scope: 'orders:read' }))).toBe(403);
  });
  it('a path parameter named like a prototype property', async () => {
    expect(await status('/t/constructor', await as.issueJwt({}))).toBe(403);
    expect(await status('/t/toString', await as.issueJwt({}))).toBe(403);
  });
});

describe('a JWT whose claims hold an own __proto__', () => {
  const proto = { admin: true, scope: 'admin', roles: ['ops', 'constructor'], realm_access: { roles: ['ops'] }, tenant: 'constructor' };
  it.each(['/c/proto-admin', '/s/admin', '/r/ctor', '/r/realm', '/t/constructor'])('%s → 403 (the other claims are not read through it)', async (path) => {
    expect(await status(path, await as.issueJwt(withProto(proto, { scope: 'orders:read' })))).toBe(403);
  });
  it('the own claim itself is readable by its path', async () => {
    expect(await status('/r/proto', await as.issueJwt(withProto({ roles: ['ops'] })))).toBe(200);
  });
});

describe('an introspection answer whose claims hold an own __proto__', () => {
  const proto = { admin: true, scope: 'admin', roles: ['ops'], realm_access: { roles: ['ops'] }, active: true };
  it.each(['/c/proto-admin', '/s/admin', '/r/ctor', '/r/realm'])('%s → 403', async (path) => {
    expect(await status(path, as.issueOpaque(withProto(proto, { scope: 'orders:read' })))).toBe(403);
  });
});
