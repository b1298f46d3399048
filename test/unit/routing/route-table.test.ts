// Route matching: host, method and path pattern; "most specific wins" independent of
// config order (ties keep config order); parameters extracted. Examples plus properties.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { AMBIGUOUS, RouteTable, type MethodRefused, type ReadingOptions, type RouteMatch } from '../../../node/routing/route-table.js';
import type { CompiledRoute } from '../../../node/pipeline/context.js';
import type { RouteConfig } from '../../../node/config/index.js';

interface Spec { name: string; path: string; methods?: string[]; host?: string }

function table(specs: Spec[], readings?: ReadingOptions, frozen = false): RouteTable {
  const deepFreeze = <T>(o: T): T => { if (o !== null && typeof o === 'object') { Object.freeze(o); for (const v of Object.values(o)) deepFreeze(v); } return o; };
  const routes: CompiledRoute[] = specs.map((s, index) => ({
    index,
    name: s.name,
    policy: null,
    config: {
      name: s.name,
      match: { path: s.path, ...(s.methods ? { methods: s.methods } : {}), ...(s.host ? { host: s.host } : {}) },
      upstream: 'app', auth: 'none', forward: { authorization: 'keep' },
    } as RouteConfig,
  }));
  if (frozen) for (const r of routes) deepFreeze(r.config);
  return new RouteTable(routes, readings);
}

/** A route or null: no route here has `other_methods: refuse`, so a method refusal is a failure. */
function routed(m: RouteMatch | MethodRefused | null): RouteMatch | null {
  if (m !== null && !('route' in m)) throw new Error(`refused by ${m.refusedBy}`);
  return m;
}
const hit = (t: RouteTable, method: string, host: string, path: string): RouteMatch | null => routed(t.match(method, host, path));
const name = (t: RouteTable, method: string, path: string, host = 'example.com'): string | null => hit(t, method, host, path)?.route.name ?? null;

const SPECS: Spec[] = [
  { name: 'catch-all', path: '/*' },
  { name: 'api-prefix', path: '/api/*' },
  { name: 'orders-prefix', path: '/api/orders/*' },
  { name: 'order-by-id', path: '/api/orders/:id' },
  { name: 'order-export', path: '/api/orders/export' },
  { name: 'order-post', path: '/api/orders/:id', methods: ['POST'] },
  { name: 'order-items', path: '/api/orders/:id/items/:item' },
  { name: 'health', path: '/health' },
  { name: 'admin-host', path: '/api/*', host: 'admin.example.com' },
  { name: 'tenant-host', path: '/api/*', host: '*.tenants.example.com' },
  { name: 'root', path: '/' },
];

describe('RouteTable: built again from the same frozen route configs (the next policy version)', () => {
  it('matches exactly as a table built from fresh copies, with its own routes (index, policy) in each table', () => {
    const paths: Array<[string, string, string]> = [['GET', 'example.com', '/api/orders/7'], ['POST', 'example.com', '/api/orders/7'], ['HEAD', 'example.com', '/health'], ['GET', 'admin.example.com', '/api/x'], ['GET', 'a.tenants.example.com', '/api/x'], ['GET', 'example.com', '/'], ['GET', 'example.com', '/api/orders/1/items/2'], ['DELETE', 'example.com', '/nope/x']];
    const fresh = table(SPECS);
    const first = table(SPECS, undefined, true);
    // the same config objects in another order, as the next version's table holds them
    const configs = first.routes.map((r) => r.config);
    const again = new RouteTable([...configs].reverse().map((config, index) => ({ index, name: config.name, policy: null, config })));
    const reversed = table([...SPECS].reverse());
    for (const [m, h, p] of paths) {
      expect(hit(first, m, h, p)?.route.name ?? null).toBe(hit(fresh, m, h, p)?.route.name ?? null);
      expect(hit(first, m, h, p)?.params ?? null).toEqual(hit(fresh, m, h, p)?.params ?? null);
      const a = hit(again, m, h, p);
      expect(a?.route.name ?? null).toBe(hit(reversed, m, h, p)?.route.name ?? null);
      if (a !== null) expect(again.routes[a.route.index]).toBe(a.route); // its own compiled route, not the other table's
    }
  });
});

describe('RouteTable: specificity', () => {
  const t = table(SPECS);

  it.each([
    ['GET', '/health', 'health'],
    ['GET', '/healthz', 'catch-all'],
    ['GET', '/health/x', 'catch-all'],
    ['GET', '/', 'root'],
    ['GET', '/anything', 'catch-all'],
    ['GET', '/api', 'api-prefix'], // /api/* also matches /api
    ['GET', '/api/', 'api-prefix'],
    ['GET', '/apix', 'catch-all'], // a prefix is whole segments
    ['GET', '/api/users', 'api-prefix'],
    ['GET', '/api/orders/export', 'order-export'], // literal beats :param
    ['GET', '/api/orders/42', 'order-by-id'], // :param beats *
    ['HEAD', '/api/orders/42', 'order-by-id'],
    ['POST', '/api/orders/42', 'order-post'], // a method list beats any method
    ['DELETE', '/api/orders/42', 'order-by-id'],
    ['GET', '/api/orders', 'orders-prefix'], // deeper literal prefix beats shallower one
    ['GET', '/api/orders/42/x', 'orders-prefix'],
    ['GET', '/api/orders/42/items/7', 'order-items'],
    ['GET', '/api/orders//items/7', 'orders-prefix'], // an empty :param never matches
  ])('%s %s → %s', (method, path, want) => {
    expect(name(t, method, path)).toBe(want);
  });

  it('extracts parameters', () => {
    expect(hit(t, 'GET', 'example.com', '/api/orders/42/items/7')?.params).toEqual({ id: '42', item: '7' });
    expect(hit(t, 'GET', 'example.com', '/api/orders/export')?.params).toBeNull();
  });

  it('host: exact host beats *.wildcard beats any host, and a wildcard needs a subdomain', () => {
    expect(name(t, 'GET', '/api/orders/42', 'admin.example.com')).toBe('admin-host');
    expect(name(t, 'GET', '/api/orders/42', 'acme.tenants.example.com')).toBe('tenant-host');
    expect(name(t, 'GET', '/api/orders/42', 'tenants.example.com')).toBe('order-by-id');
    expect(name(t, 'GET', '/api/orders/42', 'xtenants.example.com')).toBe('order-by-id');
    expect(name(t, 'GET', '/health', 'admin.example.com')).toBe('health'); // host routes only cover /api/*
  });

  it('no route → null', () => {
    const t2 = table([{ name: 'only', path: '/only', methods: ['GET'] }]);
    expect(t2.match('GET', '', '/other')).toBeNull();
    expect(t2.match('POST', '', '/only')).toBeNull();
    expect(hit(t2, 'HEAD', '', '/only')?.route.name).toBe('only'); // GET implies HEAD
  });

  it('ties keep config order', () => {
    const t2 = table([{ name: 'first', path: '/x/:a' }, { name: 'second', path: '/x/:b' }]);
    expect(name(t2, 'GET', '/x/1')).toBe('first');
    const t3 = table([{ name: 'second', path: '/x/:b' }, { name: 'first', path: '/x/:a' }]);
    expect(name(t3, 'GET', '/x/1')).toBe('second');
  });
});

describe('RouteTable: TRACE and TRACK', () => {
  it('match only a route that lists them: a route for any method never echoes what the upstream got', () => {
    const t = table([{ name: 'any', path: '/*' }, { name: 'diag', path: '/diag/*', methods: ['TRACE'] }]);
    for (const m of ['TRACE', 'TRACK']) expect(name(t, m, '/x')).toBeNull();
    expect(t.resolve('TRACE', 'example.com', '/x')).toBeNull();
    expect(name(t, 'TRACE', '/diag/1')).toBe('diag');
    expect(name(t, 'TRACK', '/diag/1')).toBeNull();
    for (const m of ['GET', 'OPTIONS', 'PATCH', 'PROPFIND']) expect(name(t, m, '/x')).toBe('any');
  });
});

describe('RouteTable: properties', () => {
  it('the winner does not depend on config order (no exact ties among SPECS)', () => {
    const probes: Array<[string, string, string]> = [
      ['GET', '/health', 'example.com'], ['GET', '/api/orders/export', 'example.com'], ['POST', '/api/orders/1', 'example.com'],
      ['GET', '/api/orders/1', 'example.com'], ['GET', '/api/orders', 'example.com'], ['GET', '/api/orders/1/items/2', 'example.com'],
      ['GET', '/api/x', 'admin.example.com'], ['GET', '/api/x', 'a.tenants.example.com'], ['GET', '/zzz', 'example.com'], ['GET', '/', 'example.com'],
    ];
    const reference = table(SPECS);
    const want = probes.map(([m, p, h]) => name(reference, m, p, h));
    fc.assert(fc.property(fc.shuffledSubarray(SPECS, { minLength: SPECS.length, maxLength: SPECS.length }), (shuffled) => {
      const t = table(shuffled);
      expect(probes.map(([m, p, h]) => name(t, m, p, h))).toEqual(want);
    }), { numRuns: 300 });
  });

  const lit = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '1', '-', '.'), minLength: 1, maxLength: 4 }).filter((s) => s !== '.' && s !== '..');

  it('a literal pattern matches exactly its own path, and a prefix matches every extension of it', () => {
    fc.assert(fc.property(fc.array(lit, { minLength: 1, maxLength: 5 }), fc.array(lit, { maxLength: 3 }), (segs, rest) => {
      const path = '/' + segs.join('/');
      const t = table([{ name: 'exact', path }, { name: 'prefix', path: `${path}/*` }, { name: 'root', path: '/*' }]);
      expect(name(t, 'GET', path)).toBe('exact');
      expect(name(t, 'GET', `${path}/${rest.join('/')}`)).toBe('prefix');
      expect(name(t, 'GET', `${path}x`)).toBe('root');
    }), { numRuns: 500 });
  });

  it('a :param pattern captures whatever non-empty segment is there', () => {
    fc.assert(fc.property(lit, lit, (a, v) => {
      const t = table([{ name: 'p', path: `/${a}/:v/end` }]);
      const m = hit(t, 'GET', '', `/${a}/${v}/end`);
      expect(m?.params).toEqual({ v });
      expect(t.match('GET', '', `/${a}/${v}/end/more`)).toBeNull();
    }), { numRuns: 300 });
  });
});


describe('resolve: readings of the path by upstream families', () => {
  const ALL: ReadingOptions = { allowParams: false, refuse: ['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'] };
  const t = table([
    { name: 'v', path: '/v/*' },
    { name: 'daily', path: '/reports/daily' },
    { name: 'order', path: '/orders/:id' },
    { name: 'open', path: '/*' },
  ], ALL);
  const r = (path: string): string | null => {
    const m = t.resolve('GET', 'example.com', path);
    return m === AMBIGUOUS ? 'AMBIGUOUS' : routed(m)?.route.name ?? null;
  };

  it.each([
    ['/v/x', 'v'], ['/v/X', 'v'], ['/other/X', 'open'], ['/reports/daily', 'daily'], ['/orders/ABC', 'order'],
    ['/orders/42', 'order'], ['/v/x/', 'v'], ['/a.b/c', 'open'], ['/v/x.y', 'v'],
    ['/my%20files/x', 'open'], ['/v/a%20', 'v'], ['/other%20/x', 'open'],
  ])('%s → %s (every reading agrees)', (path, want) => expect(r(path)).toBe(want));

  it.each([
    ['/V/x', 'Express/IIS read /v/x'],
    ['/v./x', 'IIS reads /v/x'],
    ['/reports/daily/', 'Express and Spring 5 read /reports/daily'],
    ['/Reports/Daily', 'case'],
    ['/V./x/', 'all three together'],
    ['/orders/42/', 'Express reads /orders/:id'],
    ['/v%20/x', 'Spring with trimTokens and IIS read /v/x'],
    ['/%20v/x', 'Spring with trimTokens reads /v/x'],
    ['/%20/v/x', 'Spring with trimTokens drops the emptied token'],
    ['/v%20%20', 'Spring with trimTokens and IIS read /v'],
    ['/v.%20/x', 'IIS drops trailing dots and spaces together'],
    ['/orders/42%20', 'the :id parameter reads 42'],
    ['/reports/daily%20', 'IIS reads /reports/daily'],
    ['/x/..%20/v', 'a segment that trims to a dot segment'],
  ])('%s → AMBIGUOUS (%s)', (path) => expect(r(path)).toBe('AMBIGUOUS'));

  it('the case reading takes the escapes of İ ı ſ and the Kelvin sign for i i s k (Java equalsIgnoreCase, Unicode simple folding)', () => {
    const u = table([{ name: 'admin', path: '/admin/*' }, { name: 'backup', path: '/backup/*' }, { name: 'status', path: '/status' }, { name: 'open', path: '/*' }], ALL);
    for (const p of ['/adm%C4%B0n/x', '/adm%C4%B1n/x', '/ADM%C4%B0N/x', '/bac%E2%84%AAup/x', '/%C5%BFtatus']) expect(u.resolve('GET', '', p), p).toBe(AMBIGUOUS);
    for (const p of ['/caf%C3%A9/x', '/adm%C3%ADn/x', '/%C4%B0x']) expect((u.resolve('GET', '', p) as { route: { name: string } }).route.name, p).toBe('open');
    const noCase = table([{ name: 'admin', path: '/admin/*' }, { name: 'open', path: '/*' }], { allowParams: false, refuse: ['trailing_slash'] });
    expect((noCase.resolve('GET', '', '/adm%C4%B0n/x') as { route: { name: string } }).route.name).toBe('open');
  });

  it('the case reading takes the escapes of characters NFKC maps to ASCII for that ASCII (fullwidth ａ, ⅰ, ⓐ)', () => {
    const u = table([{ name: 'admin', path: '/admin/*' }, { name: 'open', path: '/*' }], ALL);
    for (const p of ['/%EF%BD%81dmin/x', '/%EF%BC%A1DMIN/x', '/adm%E2%85%B0n/x', '/%E2%93%90dmin/x', '/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E']) expect(u.resolve('GET', '', p), p).toBe(AMBIGUOUS);
    // other characters, invalid UTF-8 and lookalikes that read as another path stay on their route
    for (const p of ['/%E6%97%A5%E6%9C%AC/x', '/%EF%BD%81dmins/x', '/%EF%BD/x', '/%BD%81dmin/x', '/caf%C3%A9']) expect((u.resolve('GET', '', p) as { route: { name: string } }).route.name, p).toBe('open');
  });

  it('a parameter holding İ or ı keeps its route (case-insensitive matchers hand it over as written); one NFKC changes does not', () => {
    const u = table([{ name: 'city', path: '/cities/:name' }, { name: 'open', path: '/*' }], ALL);
    const params = (p: string): unknown => (u.resolve('GET', '', p) as { params: unknown }).params;
    // Turkish names: no upstream reads these parameters otherwise
    expect(params('/cities/%C4%B0zmir')).toEqual({ name: '%C4%B0zmir' });
    expect(params('/cities/Diyarbak%C4%B1r')).toEqual({ name: 'Diyarbak%C4%B1r' });
    expect(params('/cities/%C4%B0STANBUL')).toEqual({ name: '%C4%B0STANBUL' });
    // an NFKC reader's :name is `Tokyo`, `m2`, `sx` (the Kelvin sign and ſ too): refused as `/orders/42%20` is
    for (const p of ['/cities/%EF%BC%B4okyo', '/cities/m%C2%B2', '/cities/%C5%BFx', '/cities/%E2%84%AA', '/cities/%C4%B0%EF%BD%81']) expect(u.resolve('GET', '', p), p).toBe(AMBIGUOUS);
    // İ in a literal segment still counts: /c%C4%B0ties/x is /cities/x to a Java case-insensitive mapping
    expect(u.resolve('GET', '', '/c%C4%B0ties/x')).toBe(AMBIGUOUS);
  });

  it('a reading that finds no route while the path as written does is a disagreement too', () => {
    const only = table([{ name: 'dots', path: '/v./*' }], ALL);
    expect(only.resolve('GET', '', '/v./x')).toBe(AMBIGUOUS);
  });

  it('without readings it matches as written (the old behaviour)', () => {
    const strict = table([{ name: 'v', path: '/v/*' }, { name: 'open', path: '/*' }]);
    expect((strict.resolve('GET', '', '/V/x') as { route: { name: string } }).route.name).toBe('open');
  });

  it('allow_params routes on segments without their ;parameters', () => {
    const p = table([{ name: 'cars', path: '/cars/:id' }, { name: 'open', path: '/*' }], { ...ALL, allowParams: true });
    const m = p.resolve('GET', '', '/cars;color=red/42;v=1');
    expect(m !== null && m !== AMBIGUOUS && 'route' in m ? [m.route.name, m.params] : m).toEqual(['cars', { id: '42' }]);
  });

  it('an upper-case pattern is reached only by its exact spelling when the case reading is off, and refused otherwise when spelled lower', () => {
    const up = table([{ name: 'up', path: '/API/*' }, { name: 'open', path: '/*' }], ALL);
    expect((up.resolve('GET', '', '/API/x') as { route: { name: string } }).route.name).toBe('up');
    expect(up.resolve('GET', '', '/api/x')).toBe(AMBIGUOUS);
  });
});
