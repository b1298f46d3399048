// other_methods: refuse in the route table, as a property: whatever the routes, hosts and upstream readings,
// a request whose method a refusing route does not list never lands on a route that route outranks and
// whose host or path shape differs; a refusal is the same answer under every reading of the path.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RouteTable, type ReadingOptions } from '../../../node/routing/route-table.js';
import type { CompiledRoute } from '../../../node/pipeline/context.js';
import type { RouteConfig } from '../../../node/config/index.js';

interface Spec { name: string; path: string; methods?: string[]; host?: string; refuse: boolean }

const ALL: ReadingOptions = { allowParams: false, refuse: ['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'] };
const NONE: ReadingOptions = { allowParams: false, refuse: [] };

function table(specs: Spec[], readings: ReadingOptions, frozen = false): RouteTable {
  const routes: CompiledRoute[] = specs.map((s, index) => ({
    index, name: s.name, policy: null,
    config: {
      name: s.name, match: { path: s.path, ...(s.methods ? { methods: s.methods } : {}), ...(s.host ? { host: s.host } : {}) },
      ...(s.refuse ? { other_methods: 'refuse' } : {}), upstream: 'app', auth: 'none',
    } as unknown as RouteConfig,
  }));
  if (frozen) for (const r of routes) { Object.freeze(r.config.match); Object.freeze(r.config); }
  return new RouteTable(routes, readings);
}

const shapeOf = (s: Spec): string => `${s.host ?? ''} ${s.path.replace(/:[a-z]+/g, ':')}`;

describe('other_methods: refuse (property)', () => {
  it('examples: a broader route, a host-exact refusing route, HEAD by GET, and the same refusal under every reading', () => {
    const t = table([
      { name: 'admin', path: '/api/admin/*', methods: ['GET', 'POST'], refuse: true },
      { name: 'open', path: '/api/*', refuse: false },
      { name: 'host-only', path: '/*', methods: ['POST'], host: 'a.com', refuse: true },
      { name: 'reports', path: '/reports', refuse: false },
    ], ALL);
    const refused = t.resolve('DELETE', 'b.com', '/api/admin/x');
    expect(refused).toMatchObject({ refusedBy: 'admin', allow: 'GET, HEAD, POST' });
    expect(t.resolve('DELETE', 'b.com', '/api/admin/x/')).toBe(refused); // the trailing-slash reading: the same answer
    expect(t.resolve('HEAD', 'b.com', '/api/admin/x')).toMatchObject({ route: { name: 'admin' } });
    expect(t.resolve('GET', 'a.com', '/reports')).toMatchObject({ refusedBy: 'host-only' }); // the exact host outranks the path
    expect(t.resolve('GET', 'b.com', '/reports')).toMatchObject({ route: { name: 'reports' } });
  });

  it('no request passes a refusing route to a route it outranks with another shape, under any reading', () => {
    const seg = fc.constantFrom('api', 'API', 'admin', 'Admin', ':id', '*', 'x', 'admin.', 'x%20');
    const spec = fc.record({
      segs: fc.array(seg, { minLength: 1, maxLength: 3 }),
      methods: fc.option(fc.subarray(['GET', 'POST', 'DELETE', 'OPTIONS'], { minLength: 1 }), { nil: undefined }),
      host: fc.option(fc.constantFrom('a.com', '*.com'), { nil: undefined }),
      refuse: fc.boolean(),
    });
    const request = fc.record({
      segs: fc.array(fc.constantFrom('api', 'API', 'admin', 'Admin', 'x', 'admin.', 'x%20', 'y'), { minLength: 1, maxLength: 3 }),
      slash: fc.boolean(),
      method: fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS', 'TRACE', 'PUT'),
      host: fc.constantFrom('a.com', 'b.com', ''),
    });
    fc.assert(fc.property(fc.array(spec, { minLength: 1, maxLength: 6 }), request, fc.boolean(), (ss, q, frozen) => {
      const specs: Spec[] = ss.map((s, i) => ({
        name: `r${i}`, path: '/' + s.segs.map((x, j) => (x === '*' && j !== s.segs.length - 1 ? 'w' : x)).join('/'),
        methods: s.methods, host: s.host, refuse: s.refuse && s.methods !== undefined,
      }));
      const path = '/' + q.segs.join('/') + (q.slash ? '/' : '');
      for (const readings of [ALL, NONE]) {
        const t = table(specs, readings, frozen);
        const m = t.resolve(q.method, q.host, path);
        if (m === null || typeof m === 'string') continue;
        if (!('route' in m)) { expect(t.match(q.method, q.host, path)).toBe(m); continue; }
        const r = specs[m.route.index]!;
        for (const e of specs) {
          if (!e.refuse || e === r || shapeOf(e) === shapeOf(r)) continue;
          const listed = new Set(e.methods); if (listed.has('GET')) listed.add('HEAD');
          if (listed.has(q.method)) continue;
          if (table([{ ...e, methods: undefined, refuse: false }], NONE).match('GET', q.host, path) === null) continue; // not its host and path
          // the refusing route listing the method, beside the chosen one in config order: it must not win
          const pair = specs.indexOf(e) < m.route.index ? [{ ...e, methods: [q.method], refuse: false }, r] : [r, { ...e, methods: [q.method], refuse: false }];
          const w = table(pair, NONE).match(q.method, q.host, path);
          const winner = w !== null && 'route' in w ? pair[w.route.index]!.name : null;
          expect(winner, JSON.stringify({ specs, q, chosen: r.name })).not.toBe(e.name);
        }
      }
    }), { numRuns: 4000 });
  });
});
