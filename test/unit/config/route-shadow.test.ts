// A route that an earlier, equally specific route hides (same host, path shape and methods) is a
// config error naming both routes — before, check-config said ok and the later route's policy and
// upstream were silently never used. Routes that only overlap (more specific ones) stay valid.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { shadowedRoutes, validateConfig, type ConfigResult } from '../../../node/config/index.js';
import { RouteTable, routeOf } from '../../../node/routing/route-table.js';
import type { CompiledRoute } from '../../../node/pipeline/context.js';

type Route = { name: string; match: Record<string, unknown>; upstream?: string; auth?: unknown };

const doc = (routes: Route[]): Record<string, unknown> => ({
  issuers: { kc: { issuer: 'https://kc.corp.example/realms/corp', audiences: ['orders-api'] } },
  upstreams: { orders: { targets: ['http://127.0.0.1:3001'] }, legacy: { targets: ['http://127.0.0.1:3002'] } },
  routes: routes.map((r) => ({ upstream: 'orders', auth: 'none', ...r })),
});

/** As an operator's own file or push is checked (check-config, serve, a reload, policy push). */
function check(routes: Route[]): ConfigResult {
  return validateConfig(doc(routes), { refuseHiddenRoutes: true });
}

function problems(r: ConfigResult): string[] {
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('shadowed routes', () => {
  it('the same path under another parameter name, for any method: the later route is refused, both named', () => {
    const p = problems(check([
      { name: 'orders', match: { path: '/orders/:id' }, auth: { scopes: { all: ['orders:admin'] } } },
      { name: 'orders-open', match: { path: '/orders/:orderId' }, upstream: 'legacy' },
    ]));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^routes\[1\]\.match: route "orders-open" is never matched: route "orders" \(routes\[0\]\) comes first/);
    expect(p[0]).toContain('remove one, or give them different methods, hosts or paths');
  });

  it('methods an earlier route already takes (GET answers HEAD too); only some of them named', () => {
    const p = problems(check([
      { name: 'read', match: { path: '/orders/*', methods: ['GET', 'POST'] } },
      { name: 'read-again', match: { path: '/orders/*', methods: ['get'] } },
      { name: 'head', match: { path: '/orders/*', methods: ['HEAD'] } },
      { name: 'write', match: { path: '/orders/*', methods: ['POST', 'DELETE'] } },
    ]));
    expect(p).toEqual([
      expect.stringMatching(/^routes\[1\]\.match: route "read-again" is never matched: route "read" \(routes\[0\]\)/),
      expect.stringMatching(/^routes\[2\]\.match: route "head" is never matched: route "read" \(routes\[0\]\)/),
      expect.stringMatching(/^routes\[3\]\.match: route "write" never gets its POST requests: route "read" \(routes\[0\]\)/),
    ]);
  });

  it('same host after normalisation (case, trailing dot) counts as the same host', () => {
    const p = problems(check([
      { name: 'a', match: { host: 'API.corp.example.', path: '/v1/*' } },
      { name: 'b', match: { host: 'api.corp.example', path: '/v1/*' } },
    ]));
    expect(p).toEqual([expect.stringMatching(/^routes\[1\]\.match: route "b" is never matched: route "a" \(routes\[0\]\)/)]);
  });

  it('a file with another error elsewhere: routes split by method are still told apart', () => {
    // the cross-reference pass of a schema-invalid file read every route as "any method" and flagged GET/DELETE pairs
    const p = problems(check([
      { name: 'read', match: { path: '/orders/:id', methods: ['GET'] } },
      { name: 'delete', match: { path: '/orders/:id', methods: ['DELETE'] } },
      { name: 'bad', match: { path: '/x', methods: 'GET' } },
      { name: 'bad-too', match: { path: '/x', methods: 'GET' } },
    ]));
    expect(p).toEqual(['routes[2].match.methods: expected array, got string — a list: [GET, HEAD]', 'routes[3].match.methods: expected array, got string — a list: [GET, HEAD]']);
  });

  it('overlapping but reachable routes stay valid: more specific paths, hosts and method lists, disjoint methods', () => {
    const r = check([
      { name: 'any', match: { path: '/orders/*' } },
      { name: 'get', match: { path: '/orders/*', methods: ['GET'] } }, // a method list outranks any method
      { name: 'delete', match: { path: '/orders/*', methods: ['DELETE'] } },
      { name: 'one', match: { path: '/orders/:id' } },
      { name: 'literal', match: { path: '/orders/export' } },
      { name: 'host', match: { host: 'admin.corp.example', path: '/orders/*' } },
      { name: 'wild-host', match: { host: '*.corp.example', path: '/orders/*' } },
      { name: 'slash', match: { path: '/orders/' } },
      { name: 'head-first', match: { path: '/items', methods: ['HEAD'] } },
      { name: 'get-after-head', match: { path: '/items', methods: ['GET'] } }, // still gets GET
    ]);
    expect(problems(r)).toEqual([]);
  });

  it('what was already accepted is served as written: a stored cluster version, the text a worker boots with (an older build may have pushed it)', () => {
    const hidden = doc([
      { name: 'orders', match: { path: '/orders/:id' } },
      { name: 'orders-open', match: { path: '/orders/:orderId' } },
    ]);
    const r = validateConfig(hidden);
    expect(problems(r)).toEqual([]);
    expect(r.ok && r.config.routes.map((x) => x.name)).toEqual(['orders', 'orders-open']);
  });
});

describe('shadowed routes against the route table (property)', () => {
  // every route the check calls hidden gets no request the table routes — for any host, method or path:
  // host wildcards vs exact hosts, method case and order, HEAD implied by GET, :param vs literal vs * vs a trailing /
  const seg = fc.constantFrom('a', 'A', 'b', ':p', ':q');
  const path = fc.tuple(fc.array(seg, { maxLength: 2 }), fc.constantFrom(null, '*', '')).map(([segs, tail]) =>
    '/' + [...segs.map((s, i) => (s.startsWith(':') ? `${s}${i}` : s)), ...(tail === null ? [] : [tail])].join('/'));
  const route = fc.record({
    path,
    host: fc.constantFrom(undefined, 'a.ex', 'A.ex.', '*.ex'),
    methods: fc.option(fc.subarray(['GET', 'get', 'HEAD', 'POST'], { minLength: 1 }), { nil: undefined }),
  });
  const requests: Array<[string, string, string]> = [];
  const words = ['a', 'A', 'b', 'zz'];
  const paths = ['/'];
  for (const x of words) for (const y of [null, ...words]) for (const z of y === null ? [null] : [null, ...words]) {
    const p = '/' + [x, y, z].filter((s) => s !== null).join('/');
    paths.push(p, `${p}/`);
  }
  for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'TRACE']) for (const h of ['a.ex', 'b.ex', 'other.example']) for (const p of paths) requests.push([m, h, p]);

  it('a route called hidden is never chosen for the methods named', () => {
    fc.assert(fc.property(fc.array(route, { minLength: 2, maxLength: 4 }), (specs) => {
      const r = validateConfig(doc(specs.map((s, i) => ({ name: `r${i}`, match: { path: s.path, ...(s.host === undefined ? {} : { host: s.host }), ...(s.methods === undefined ? {} : { methods: s.methods }) } }))));
      if (!r.ok) return; // e.g. HEAD listed twice as head/HEAD is still valid; anything else the schema refuses is not this check's
      const routes: CompiledRoute[] = r.config.routes.map((config, index) => ({ index, name: config.name, policy: null, config }));
      const t = new RouteTable(routes);
      for (const p of shadowedRoutes(r.config)) {
        const i = Number(/^routes\[(\d+)\]/.exec(p.path)![1]);
        const some = /never gets its ([A-Z, ]+) requests/.exec(p.message);
        const hidden = some === null ? null : new Set(some[1]!.split(', '));
        for (const [m, h, q] of requests) {
          if (hidden !== null && !hidden.has(m)) continue;
          expect(routeOf(t.match(m, h, q))?.index === i, `${m} ${h} ${q} reached routes[${i}] (${p.message})`).toBe(false);
        }
      }
    }), { numRuns: 300 });
  });
});
