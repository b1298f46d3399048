// The route table's index (issue 13) answers exactly what a scan of every route in "most specific wins"
// order answers: the reference scan below, written from the README's routing rules, against the table
// for random route sets (most big enough to be indexed) and requests (lookalikes, long paths), every reading, and passedOver.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { AMBIGUOUS, RouteTable, type MethodRefused, type RouteMatch, type ReadingOptions, type UpstreamReading } from '../../../node/routing/route-table.js';
import type { CompiledRoute } from '../../../node/pipeline/context.js';
import type { RouteConfig } from '../../../node/config/index.js';
import { checkPattern } from '../../../node/config/load.js';

interface Spec { path: string; methods?: string[]; host?: string; refuse: boolean }

function routesOf(specs: readonly Spec[]): CompiledRoute[] {
  return specs.map((s, index) => ({
    index, name: `r${index}`, policy: null,
    config: {
      name: `r${index}`, upstream: 'app', auth: 'none', forward: { authorization: 'keep' },
      match: { path: s.path, ...(s.methods ? { methods: s.methods } : {}), ...(s.host ? { host: s.host } : {}) },
      ...(s.refuse && s.methods ? { other_methods: 'refuse' } : {}),
    } as RouteConfig,
  }));
}

const segsOf = (r: CompiledRoute): string[] => r.config.match.path.split('/').slice(1);
const kind = (s: string): number => (s === '*' ? 1 : s.startsWith(':') ? 2 : 3);
const hostSpec = (r: CompiledRoute): number => (r.config.match.host === undefined ? 0 : r.config.match.host.startsWith('*.') ? 1 : 2);
function listed(r: CompiledRoute): Set<string> | null {
  if (r.config.match.methods === undefined) return null;
  const s = new Set(r.config.match.methods.map((m) => m.toUpperCase()));
  if (s.has('GET')) s.add('HEAD');
  return s;
}
/** Most specific first: host (exact > *.wildcard > any), path segment by segment (literal > :param > *, an exact end > a trailing *), a method list; then config order. */
function rankOrder(a: CompiledRoute, b: CompiledRoute): number {
  const key = (r: CompiledRoute): number[] => {
    const s = segsOf(r);
    return [hostSpec(r), ...s.map(kind), ...(s[s.length - 1] === '*' ? [] : [4]), listed(r) === null ? 0 : 1];
  };
  const x = key(a), y = key(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
  return a.index - b.index;
}
function hostOk(r: CompiledRoute, host: string): boolean {
  const h = r.config.match.host?.toLowerCase();
  if (h === undefined) return true;
  return h.startsWith('*.') ? host.endsWith(h.slice(1)) && host.length > h.length - 1 : host === h;
}
const lowerAscii = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
/** The path's split segments against the pattern's: params, or false. */
function pathOk(r: CompiledRoute, path: string, fold: boolean, noSlash: boolean): Record<string, string> | null | false {
  let pat = segsOf(r);
  if (noSlash && pat.length > 1 && pat[pat.length - 1] === '') pat = pat.slice(0, -1);
  const p = noSlash && path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const segs = p.split('/').slice(1);
  let params: Record<string, string> | null = null;
  for (let i = 0; i < pat.length; i++) {
    if (pat[i] === '*') return params;
    if (i >= segs.length) return false;
    if (pat[i]!.startsWith(':')) {
      if (segs[i] === '') return false;
      (params ??= {})[pat[i]!.slice(1)] = segs[i]!;
    } else if (fold ? lowerAscii(segs[i]!) !== pat[i]!.toLowerCase() : segs[i] !== pat[i]) return false;
  }
  return segs.length === pat.length ? params : false;
}
const shape = (r: CompiledRoute): string => `${r.config.match.host?.toLowerCase() ?? ''} ${segsOf(r).map((s) => (s.startsWith(':') ? ':' : s)).join('/')}`;

/** The table with every lookup a scan of every route: the reference the index must agree with. */
class ScanTable extends RouteTable {
  private readonly order: CompiledRoute[];
  private readonly refusals = new Map<CompiledRoute, MethodRefused>();
  constructor(routes: CompiledRoute[], readings: ReadingOptions) {
    super(routes, readings);
    this.order = [...routes].sort(rankOrder);
    for (const r of this.order) {
      if (listed(r) === null || r.config.other_methods !== 'refuse') continue;
      const allow = new Set<string>();
      for (const o of this.order) if (shape(o) === shape(r)) for (const m of o.config.match.methods ?? []) { allow.add(m.toUpperCase()); if (m.toUpperCase() === 'GET') allow.add('HEAD'); }
      this.refusals.set(r, { refusedBy: r.name, allow: [...allow].join(', ') });
    }
  }
  protected override lookup(method: string, host: string, path: string, reading: number): RouteMatch | MethodRefused | null {
    if (method === 'CONNECT') return null;
    const fold = (reading & 1) !== 0, noSlash = (reading & 2) !== 0;
    let refuser: CompiledRoute | null = null;
    for (const r of this.order) {
      const l = listed(r);
      const takes = l === null ? method !== 'TRACE' && method !== 'TRACK' : l.has(method);
      if (!hostOk(r, host)) continue;
      const m = pathOk(r, path, fold, noSlash);
      if (m === false) continue;
      if (!takes) { if (refuser === null && this.refusals.has(r)) refuser = r; continue; }
      if (refuser !== null && shape(refuser) !== shape(r)) return this.refusals.get(refuser)!;
      return { route: r, params: m };
    }
    return refuser === null ? null : this.refusals.get(refuser)!;
  }
}

/** check-config's fall-through report by a scan: per method, the first route that lists other methods and the route of another host and path shape that takes the request after it (none when the first refuses). */
function passedOverByScan(routes: readonly CompiledRoute[], methods: readonly string[], host: string, path: string): string[] {
  const hits = [...routes].sort(rankOrder).filter((r) => hostOk(r, host) && pathOk(r, path, false, false) !== false);
  const out: string[] = [];
  for (const method of methods) {
    let from: CompiledRoute | null = null;
    for (const r of hits) {
      const l = listed(r);
      if (l !== null && !l.has(method)) { from ??= r; continue; }
      if (l === null && (method === 'TRACE' || method === 'TRACK')) continue;
      if (from !== null && shape(from) !== shape(r) && from.config.other_methods !== 'refuse') out.push(`${method} ${from.name} → ${r.name}`);
      // a same-shape route without a method list takes the rest, refuse or not
      else if (from !== null && shape(from) === shape(r) && l === null) out.push(`${method} ${from.name} → ${r.name} (same shape)`);
      break;
    }
  }
  return out;
}

type Answer = ReturnType<RouteTable['resolve']>;
const plain = (a: Answer): unknown => (a === null || a === AMBIGUOUS ? a : 'route' in a ? { route: a.route.name, params: a.params } : { ...a });

// overlapping literals in mixed case, params, wildcards, trailing '/'
const patSeg = fc.constantFrom('t1', 'T1', 'api', 'Api', ':id', ':x', 'v1');
const pattern = fc.tuple(fc.array(patSeg, { maxLength: 3 }), fc.constantFrom('', '', '/*', '/'))
  .map(([segs, end]) => ('/' + segs.join('/') + end).replace(/^\/\//, '/').replace(/^\/\/\*$/, '/*'))
  .filter((p) => checkPattern(p) === undefined);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'TRACK', 'CONNECT', 'OPTIONS'];
const spec: fc.Arbitrary<Spec> = fc.record({
  path: pattern,
  methods: fc.option(fc.subarray(['GET', 'POST', 'PUT', 'DELETE', 'TRACE', 'get'], { minLength: 1 }), { nil: undefined }),
  host: fc.option(fc.constantFrom('a.example.com', 'A.example.com', 'b.example.com', '*.example.com', '*.a.example.com', '*.x.a.example.com', '*.com'), { nil: undefined }),
  refuse: fc.boolean(),
});
const randomSeg = fc.constantFrom('t1', 'T1', 'API', 'api', 'v1', '42', '', 'a.b', 'v1.', 't1%20', 'x;p', 'ap%C4%B1', '%EF%BD%94%EF%BC%91');
/** `x` with its first letter as the case reading's lookalike, escaped as in a normalised path: İ/ı for i, ſ for s, fullwidth otherwise. */
function lookalike(x: string): string {
  return x.replace(/[A-Za-z0-9]/, (c) => (c === 'i' || c === 'I' ? '%C4%B1' : c === 's' ? '%C5%BF' : encodeURIComponent(String.fromCharCode(c.charCodeAt(0) + 0xfee0))));
}
/** A request: mostly one derived from a route of the set (so that it matches it, or nearly: case, slash, extra segments), else random. */
const request = fc.record({
  from: fc.option(fc.nat(), { freq: 4, nil: undefined }),
  spell: fc.array(fc.constantFrom('as', 'as', 'upper', 'lookalike'), { minLength: 4, maxLength: 4 }),
  value: fc.constantFrom('42', 't1', 'API', 'v1.', '', '%C4%B0d', 'a%20'),
  tail: fc.constantFrom('', '', '/', '/v1', '/T1/x', '/api/'.repeat(40)),
  random: fc.array(randomSeg, { minLength: 1, maxLength: 5 }),
  method: fc.oneof(fc.constantFrom(...METHODS), fc.nat()),
  host: fc.constantFrom('a.example.com', 'b.example.com', 'x.a.example.com', 'y.x.a.example.com', 'example.com', '.example.com', 'other.org', ''),
});
type Recipe = typeof request extends fc.Arbitrary<infer T> ? T : never;
function requestOf(specs: readonly Spec[], q: Recipe): { method: string; host: string; path: string } {
  const s = q.from === undefined ? undefined : specs[q.from % specs.length]!;
  const listedMethods = s?.methods;
  const method = typeof q.method === 'string' ? q.method : listedMethods === undefined ? METHODS[q.method % METHODS.length]! : listedMethods[q.method % listedMethods.length]!.toUpperCase();
  if (s === undefined) return { method, host: q.host, path: '/' + q.random.join('/') };
  const segs = s.path.split('/').slice(1).filter((x) => x !== '*')
    .map((x, i) => (x.startsWith(':') ? q.value : q.spell[i] === 'upper' ? x.toUpperCase() : q.spell[i] === 'lookalike' ? lookalike(x) : x));
  return { method, host: q.host, path: ('/' + segs.join('/') + q.tail).replace(/^\/\//, '/') };
}
const readingsArb = fc.record({
  allowParams: fc.boolean(),
  refuse: fc.subarray<UpstreamReading>(['case', 'trailing_slash', 'trailing_dot', 'segment_spaces']),
});

describe('the indexed route table answers what a scan of every route answers', () => {
  it('match() and resolve(), for random route sets, requests and readings', () => {
    fc.assert(fc.property(fc.array(spec, { minLength: 1, maxLength: 48, size: 'max' }), fc.array(request, { minLength: 1, maxLength: 12 }), readingsArb, (specs, requests, readings) => {
      const routes = routesOf(specs);
      const table = new RouteTable(routes, readings), scan = new ScanTable(routes, readings);
      for (const recipe of requests) {
        const q = requestOf(specs, recipe);
        expect(plain(table.match(q.method, q.host, q.path)), `match ${JSON.stringify(q)}`).toEqual(plain(scan.match(q.method, q.host, q.path)));
        expect(plain(table.resolve(q.method, q.host, q.path)), `resolve ${JSON.stringify(q)}`).toEqual(plain(scan.resolve(q.method, q.host, q.path)));
      }
    }), { numRuns: 500 });
  });

  it("passedOver() (check-config's fall-through report) finds what a scan finds, on every host bucket", () => {
    const probes = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'OPTIONS', 'OTHER'];
    fc.assert(fc.property(fc.array(spec, { minLength: 1, maxLength: 48, size: 'max' }), fc.array(request, { minLength: 1, maxLength: 12 }), (specs, requests) => {
      const routes = routesOf(specs);
      const table = new RouteTable(routes);
      for (const recipe of requests) {
        const q = requestOf(specs, recipe);
        const got = table.passedOver(probes, q.host, q.path).map((x) => `${x.method} ${x.from.name} → ${x.to.name}${x.sameShape ? ' (same shape)' : ''}`);
        expect(got, JSON.stringify(q)).toEqual(passedOverByScan(routes, probes, q.host, q.path));
      }
    }), { numRuns: 200 });
  });

  it('10 000 tenant routes: the requests of each tenant reach its routes, other methods are refused, unknown tenants miss', () => {
    const specs: Spec[] = [];
    for (let t = 0; t < 2000; t++) {
      specs.push({ path: `/t${t}/api/*`, refuse: false });
      specs.push({ path: `/t${t}/orders/:id`, methods: ['GET', 'PUT'], refuse: true });
      specs.push({ path: `/t${t}/orders/:id/items/:item`, methods: ['GET'], refuse: false });
      specs.push({ path: `/t${t}/admin/*`, host: `t${t}.admin.example.com`, refuse: false });
      specs.push({ path: `/t${t}/static/*`, host: '*.cdn.example.com', methods: ['GET'], refuse: true });
    }
    const readings: ReadingOptions = { allowParams: false, refuse: ['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'] };
    const table = new RouteTable(routesOf(specs), readings);
    const asks: Array<[string, string, string]> = [
      ['GET', 'gw.example.com', '/t1999/api/v2/report'], ['GET', 'gw.example.com', '/t1999/api/V2/Report/'],
      ['PUT', 'gw.example.com', '/t7/orders/9'], ['DELETE', 'gw.example.com', '/t7/orders/9'], ['GET', 'gw.example.com', '/t7/orders/9/items/3'],
      ['GET', 't5.admin.example.com', '/t5/admin/x'], ['GET', 't6.admin.example.com', '/t5/admin/x'], ['POST', 'img.cdn.example.com', '/t3/static/a.png'],
      ['GET', 'gw.example.com', '/t2000/api/x'], ['GET', 'gw.example.com', '/T1999/API/x'],
    ];
    const got = asks.map(([m, h, p]) => plain(table.resolve(m, h, p)));
    expect(got).toEqual([
      { route: 'r9995', params: null }, { route: 'r9995', params: null },
      { route: 'r36', params: { id: '9' } }, { refusedBy: 'r36', allow: 'GET, HEAD, PUT' }, { route: 'r37', params: { id: '9', item: '3' } },
      { route: 'r28', params: null }, null, { refusedBy: 'r19', allow: 'GET, HEAD' },
      null, AMBIGUOUS,
    ]);
  });
});
