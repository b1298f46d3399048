// Methods a protected route does not list fall to a broader route that asks for less: named as a warning
// (before, nothing said DELETE /api/admin/x reached the open /api/* route with no token), silenced by
// other_methods: fall_through; other_methods: refuse answers 405 with Allow from the route table.
import { describe, it, expect } from 'vitest';
import { validateConfig, type Config, type ConfigResult } from '../../../node/config/index.js';
import { configWarnings, logConfigWarnings } from '../../../node/config-warnings.js';
import { RouteTable, routeOf } from '../../../node/routing/route-table.js';

type Route = { name: string; match: Record<string, unknown>; auth?: unknown; other_methods?: string };
const ADMIN = { scopes: { all: ['admin'] } };

function check(routes: Route[]): ConfigResult {
  return validateConfig({
    issuers: { kc: { issuer: 'https://kc.corp.example/realms/corp', audiences: ['api'] } },
    upstreams: { app: { targets: ['http://127.0.0.1:3001'] } },
    routes: routes.map((r) => ({ upstream: 'app', ...r })),
  });
}

function valid(routes: Route[]): Config {
  const r = check(routes);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const warnings = (routes: Route[]): string[] => configWarnings(valid(routes)).map((w) => `${w.path}: ${w.message}`);
const table = (cfg: Config): RouteTable => new RouteTable(cfg.routes.map((config, index) => ({ index, name: config.name, config, policy: null })));

describe('methods that fall through to a weaker route', () => {
  it('a protected prefix for GET, POST before an open /api/*: the pair is named, with the methods that fall', () => {
    const w = warnings([
      { name: 'admin', match: { path: '/api/admin/*', methods: ['GET', 'POST'] }, auth: ADMIN },
      { name: 'api', match: { path: '/api/*' }, auth: 'none' },
    ]);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^routes\[0\]\.match\.methods: routes\[0\] \("admin"\) lists methods \[GET, POST\]; other methods on its paths fall to routes\[1\] \("api", auth: none\): PUT, PATCH, DELETE, OPTIONS, any other requests on \/api\/admin\/\*/);
    expect(w[0]).toContain('other_methods: refuse');
  });

  it('another auth block is weaker too; the same auth or an explicit choice say nothing', () => {
    expect(warnings([
      { name: 'admin', match: { path: '/api/admin/:id', methods: ['GET'] }, auth: ADMIN },
      { name: 'api', match: { path: '/api/*', methods: ['DELETE'] }, auth: { scopes: { all: ['read'] } } },
    ])).toEqual([expect.stringContaining('fall to routes[1] ("api", another auth block): DELETE requests on /api/admin/:id')]);
    expect(warnings([
      { name: 'admin', match: { path: '/api/admin/*', methods: ['GET'] }, auth: ADMIN },
      { name: 'api', match: { path: '/api/*' }, auth: ADMIN },
    ])).toEqual([]);
    for (const other_methods of ['fall_through', 'refuse']) {
      expect(warnings([
        { name: 'admin', match: { path: '/api/admin/*', methods: ['GET'] }, auth: ADMIN, other_methods },
        { name: 'api', match: { path: '/api/*' }, auth: 'none' },
      ])).toEqual([]);
    }
  });

  it('a route of the same path that lists its methods is a choice, not a fall-through; another host is not reached', () => {
    expect(warnings([
      { name: 'admin-read', match: { path: '/api/admin/*', methods: ['GET'] }, auth: ADMIN },
      { name: 'admin-write', match: { path: '/api/admin/*', methods: ['POST', 'DELETE'] }, auth: { scopes: { all: ['admin:write'] } } },
      { name: 'admin-preflight', match: { path: '/api/admin/*', methods: ['OPTIONS'] }, auth: 'none' },
    ])).toEqual([]);
    expect(warnings([
      { name: 'admin', match: { path: '/api/admin/*', methods: ['GET'], host: 'admin.example' }, auth: ADMIN },
      { name: 'api', match: { path: '/api/*', host: 'www.example' }, auth: 'none' },
    ])).toEqual([]);
  });

  it('an open route of the same path without a method list takes the methods the protected one does not list: named, even with other_methods: refuse', () => {
    const routes = (other_methods?: string): Route[] => [
      { name: 'admin', match: { path: '/admin/*', methods: ['GET', 'POST'] }, auth: ADMIN, ...(other_methods === undefined ? {} : { other_methods }) },
      { name: 'admin-rest', match: { path: '/admin/*' }, auth: 'none' },
    ];
    const named = 'routes[0].match.methods: routes[0] ("admin") lists methods [GET, POST]; routes[1] ("admin-rest", auth: none) has the same path and no method list: PUT, PATCH, DELETE, OPTIONS, any other requests on /admin/* reach it without this route\'s auth';
    for (const w of [warnings(routes()), warnings(routes('refuse'))]) {
      expect(w).toHaveLength(1);
      expect(w[0]!.startsWith(named), w[0]).toBe(true);
      expect(w[0]).toContain('list the methods routes[1] is for in its match.methods');
    }
    // what the warning says is what the table does: DELETE reaches the open route, refuse or not
    for (const cfg of [valid(routes()), valid(routes('refuse'))]) expect(routeOf(table(cfg).resolve('DELETE', '', '/admin/x'))?.name).toBe('admin-rest');
    // stated intent, or the open route's methods listed, silence it; the same auth is no fall
    expect(warnings(routes('fall_through'))).toEqual([]);
    expect(warnings([routes()[0]!, { name: 'admin-rest', match: { path: '/admin/*', methods: ['OPTIONS'] }, auth: 'none' }])).toEqual([]);
    expect(warnings([routes()[0]!, { name: 'admin-rest', match: { path: '/admin/*' }, auth: ADMIN }])).toEqual([]);
    // a same-path route with its own auth block is the documented guard for the other methods, not a fall
    expect(warnings([routes()[0]!, { name: 'admin-guard', match: { path: '/admin/*' }, auth: { scopes: { all: ['nobody'] } } }])).toEqual([]);
  });

  it('other_methods without match.methods is refused with its path', () => {
    const r = check([{ name: 'all', match: { path: '/api/*' }, auth: ADMIN, other_methods: 'refuse' }]);
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toEqual(['routes[0].other_methods']);
    const bad = check([{ name: 'x', match: { path: '/api/*', methods: ['GET'] }, auth: ADMIN, other_methods: 'deny' }]);
    expect(bad.ok ? [] : bad.errors.map((e) => e.path)).toEqual(['routes[0].other_methods']);
  });
});

describe('other_methods: refuse in the route table', () => {
  const cfg = valid([
    { name: 'admin', match: { path: '/api/admin/*', methods: ['GET', 'post'] }, auth: ADMIN, other_methods: 'refuse' },
    { name: 'admin-delete', match: { path: '/api/admin/*', methods: ['DELETE'] }, auth: { scopes: { all: ['admin:delete'] } } },
    { name: 'admin-users', match: { path: '/api/admin/users' }, auth: 'none' },
    { name: 'api', match: { path: '/api/*' }, auth: 'none' },
  ]);
  const t = table(cfg);

  it('an unlisted method on its paths is refused with the methods of that path; nothing selects a route', () => {
    const m = t.resolve('PUT', '', '/api/admin/x');
    expect(m).toEqual({ refusedBy: 'admin', allow: 'GET, HEAD, POST, DELETE' });
    expect(routeOf(m)).toBeNull();
    expect(t.resolve('PATCH', '', '/api/admin')).toEqual({ refusedBy: 'admin', allow: 'GET, HEAD, POST, DELETE' });
  });

  it('listed methods, a same-path route listing the method, and more specific routes still take theirs', () => {
    expect(routeOf(t.resolve('HEAD', '', '/api/admin/x'))?.name).toBe('admin');
    expect(routeOf(t.resolve('DELETE', '', '/api/admin/x'))?.name).toBe('admin-delete');
    expect(routeOf(t.resolve('PUT', '', '/api/admin/users'))?.name).toBe('admin-users');
    expect(routeOf(t.resolve('PUT', '', '/api/other'))?.name).toBe('api');
  });
});

describe('the start and reload log', () => {
  it('says each warning once for the process group: worker 0 or a single process speaks, other workers stay quiet', () => {
    const cfg = valid([
      { name: 'admin', match: { path: '/api/admin/*', methods: ['GET'] }, auth: ADMIN },
      { name: 'api', match: { path: '/api/*' }, auth: 'none' },
    ]);
    const said = (index: string | undefined): string[] => {
      const lines: string[] = [];
      logConfigWarnings({ warn: (fields, msg) => { lines.push(`${(fields as { path: string }).path}: ${msg}`); } }, cfg, index);
      return lines;
    };
    expect(said(undefined)).toEqual([expect.stringMatching(/^routes\[0\]\.match\.methods: routes\[0\] \("admin"\) lists methods \[GET\]/)]);
    expect(said('0')).toHaveLength(1);
    expect(said('1')).toEqual([]);
  });
});
