// A route that an earlier, equally specific route hides (same host, path shape and methods) is a
// config error naming both routes — before, check-config said ok and the later route's policy and
// upstream were silently never used. Routes that only overlap (more specific ones) stay valid.
import { describe, it, expect } from 'vitest';
import { validateConfig, type ConfigResult } from '../../../node/config/index.js';

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
