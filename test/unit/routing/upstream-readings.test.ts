// What the upstream resolves is what the proxy authorized (issue 8, item 1): for any path
// the proxy forwards, every upstream family (nginx, Servlet/Tomcat, Spring 5, Express,
// IIS — modelled in test/helpers/path-families.ts from their documentation) serves it with
// the handler of the very route the proxy chose; otherwise the proxy must refuse it.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { normalizePath, stripParams } from '../../../node/routing/path-normalize.js';
import { AMBIGUOUS, RouteTable, type ReadingOptions } from '../../../node/routing/route-table.js';
import type { CompiledRoute } from '../../../node/pipeline/context.js';
import type { RouteConfig } from '../../../node/config/index.js';
import { checkPattern } from '../../../node/config/load.js';
import { EXPRESS, FAMILIES, familyRoute, IIS, JAVA_CI, NGINX, SERVLET, SPRING5, SPRING_TRIM, type RouteSpec } from '../../helpers/path-families.js';

const ALL: ReadingOptions = { allowParams: false, refuse: ['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'] };

function table(specs: readonly RouteSpec[], readings: ReadingOptions): RouteTable {
  const routes: CompiledRoute[] = specs.map((s, index) => ({
    index, name: s.name, policy: null,
    config: { name: s.name, match: { path: s.path }, upstream: 'app', auth: 'none', forward: { authorization: 'keep' } } as RouteConfig,
  }));
  return new RouteTable(routes, readings);
}

/** The proxy: the forwarded path and the route it authorized, or null when it refuses (400/404). */
function proxy(t: RouteTable, raw: string, allowParams: boolean): { forwarded: string; route: string } | null {
  const path = normalizePath(raw, allowParams);
  if (path === null) return null;
  const m = t.resolve('GET', '', path);
  if (m === null || m === AMBIGUOUS || !('route' in m)) return null; // ambiguous (400) or refused (405): not forwarded
  return { forwarded: path, route: m.route.name };
}

// Patterns an operator writes (valid by checkPattern), mixing case and trailing slashes.
const patSeg = fc.constantFrom('v', 'V', 'admin', 'Admin', 'api', 'x', 'a.b', 'public', ':id');
const pattern = fc.tuple(fc.array(patSeg, { minLength: 0, maxLength: 3 }), fc.constantFrom('', '/*', '/'))
  .map(([segs, end]) => ('/' + segs.join('/') + end).replace(/^\/\//, '/').replace(/^\/\/\*$/, '/*'))
  .filter((p) => checkPattern(p) === undefined);
const routeSet = fc.uniqueArray(pattern, { minLength: 1, maxLength: 6 })
  .map((ps): RouteSpec[] => ps.map((path, i) => ({ name: `r${i}`, path })));

// Request paths built from the spellings that fooled routers in the field.
const rawSeg = fc.constantFrom(
  'v', 'V', 'v.', 'v..', 'x', 'X', 'admin', 'ADMIN', 'Admin.', 'api', 'a.b', 'public', '', '.', '..',
  '%2e%2e', '%2E', '.%2e', '..;', '%2e%2e;', '.;x', 'v;a', 'v;', ';x', 'admin;jsessionid=1', '%3B', 'v%3Ba', '%76', '%41dmin', 'a%2Cb', '42',
  'v%20', '%20v', 'admin%20%20', '%20', 'v.%20', 'v%20.', '..%20', 'a%20b', 'public%20',
  'adm%C4%B0n', 'ADM%C4%B1N', 'ap%C4%B0', 'publ%c4%b1c', 'caf%C3%A9',
  '%EF%BD%81dmin', '%EF%BD%96', '%EF%BC%B6', 'publ%E2%85%B0c', 'x%EF%BC%8E', '%E6%97%A5',
);
const rawPath = fc.tuple(fc.array(rawSeg, { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([segs, slash]) => '/' + segs.join('/') + (slash ? '/' : ''));

describe('every upstream family serves a forwarded path with the handler of the route the proxy authorized', () => {
  it('default config (no path parameters, all readings checked): nginx, Servlet, Spring 5, Express, IIS', () => {
    fc.assert(fc.property(routeSet, rawPath, (routes, raw) => {
      const p = proxy(table(routes, ALL), raw, false);
      if (p === null) return; // refused: nothing reaches any upstream
      for (const f of FAMILIES) {
        const served = familyRoute(f, routes, p.forwarded);
        // null: the upstream has no handler for it (404) — never another route's handler
        if (served !== null) expect(served, `${f.name} serves ${raw} → ${p.forwarded}`).toBe(p.route);
      }
    }), { numRuns: 20_000 });
  });

  it('allow_params: the Servlet families (which strip ;params) serve the route the proxy authorized', () => {
    const withParams: ReadingOptions = { ...ALL, allowParams: true };
    fc.assert(fc.property(routeSet, rawPath, (routes, raw) => {
      const p = proxy(table(routes, withParams), raw, true);
      if (p === null) return;
      for (const f of [SERVLET, SPRING5]) {
        const served = familyRoute(f, routes, p.forwarded);
        if (served !== null) expect(served, `${f.name} serves ${raw} → ${p.forwarded}`).toBe(p.route);
      }
    }), { numRuns: 20_000 });
  });

  it('the path nginx and Tomcat resolve is the path the proxy routed on (decoded), or they refuse it', () => {
    fc.assert(fc.property(rawPath, fc.boolean(), (raw, allowParams) => {
      const f = normalizePath(raw, allowParams);
      if (f === null) return;
      const routed = decodeURIComponentSafe(stripParams(f));
      expect(SERVLET.read(f)).toBe(routed);
      if (!allowParams) expect(NGINX.read(f)).toBe(routed);
    }), { numRuns: 20_000 });
  });

  it('without the readings check the models do find the bypasses (the property above can fail)', () => {
    const routes: RouteSpec[] = [{ name: 'protected', path: '/v/*' }, { name: 'exact', path: '/reports/daily' }, { name: 'open', path: '/*' }];
    const none = table(routes, { allowParams: false, refuse: [] });
    expect(proxy(none, '/V/x', false)?.route).toBe('open');
    expect(familyRoute(EXPRESS, routes, '/V/x')).toBe('protected');
    expect(proxy(none, '/v./x', false)?.route).toBe('open');
    expect(familyRoute(IIS, routes, '/v./x')).toBe('protected');
    expect(proxy(none, '/reports/daily/', false)?.route).toBe('open');
    expect(familyRoute(SPRING5, routes, '/reports/daily/')).toBe('exact');
    // and what the issue reported for path parameters, read by a Servlet container
    expect(familyRoute(SERVLET, [{ name: 'admin', path: '/admin/*' }, { name: 'public', path: '/public/*' }], '/public/..;/admin/x')).toBe('admin');
    expect(familyRoute(SERVLET, routes, '/v;a/x')).toBe('protected');
    // spaces at the edges of a segment: trimmed by old Spring (trimTokens), dropped at the end by Windows
    expect(proxy(none, '/v%20/x', false)?.route).toBe('open');
    expect(familyRoute(SPRING_TRIM, routes, '/v%20/x')).toBe('protected');
    expect(familyRoute(SPRING_TRIM, routes, '/%20/v/x')).toBe('protected');
    expect(familyRoute(IIS, routes, '/v%20./x')).toBe('protected');
    // letters a Java (or Unicode simple-folding) case-insensitive match takes for ASCII ones
    const admin: RouteSpec[] = [{ name: 'admin', path: '/admin/*' }, { name: 'open', path: '/*' }];
    expect(proxy(table(admin, { allowParams: false, refuse: [] }), '/adm%C4%B0n/x', false)?.route).toBe('open');
    expect(familyRoute(JAVA_CI, admin, '/adm%C4%B0n/x')).toBe('admin');
    expect(familyRoute(JAVA_CI, admin, '/ADM%C4%B1N/x')).toBe('admin');
  });
});

function decodeURIComponentSafe(s: string): string {
  return s.replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}
