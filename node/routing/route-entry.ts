// A route as the table matches it, compiled once per config (and reused for a pushed version's
// unchanged routes): pattern segments, their kinds, host and method specs, its rank in the
// "most specific wins" order, and the 405 of an `other_methods: refuse` route. Build time only.
import type { RouteConfig } from '../config/index.js';
import type { CompiledRoute } from '../pipeline/context.js';
import { END, LIT, PARAM, WILD } from './route-index.js';

/** One compiled route: what a lookup reads of it. */
export interface Entry {
  readonly route: CompiledRoute;
  readonly segs: readonly string[]; // pattern segments after the leading '/'
  readonly lower: readonly string[]; // the same, lower case (case-insensitive readings)
  readonly slashEnd: boolean; // pattern ends with '/' (a trailing empty segment), not '/*'
  readonly kinds: readonly number[]; // LIT/PARAM/WILD per segment
  readonly paramNames: readonly (string | null)[];
  readonly hasParams: boolean;
  readonly wildcard: boolean; // last segment is '*'
  readonly methods: ReadonlySet<string> | null;
  readonly hostExact: string | null;
  readonly hostSuffix: string | null; // '.example.com' for *.example.com
  readonly rank: readonly number[]; // [hostSpec, ...pathKinds, END?, methodSpec]
  readonly shape: string; // host and path as equally specific routes share them (`:param` names aside)
  /** other_methods: refuse: the answer to a method the route does not list (set by the table: its Allow names the shape's methods). */
  refusal: MethodRefused | null;
}

/**
 * route-table resolve(): the request's host and path are a route's with `other_methods: refuse` and no route as
 * specific takes its method (→ 405 with `Allow`). Carries no `route`: nothing is judged or forwarded.
 */
export interface MethodRefused {
  /** The refusing route's name (logs, explain). */
  readonly refusedBy: string;
  /** The Allow value: the methods routes of that host and path list, HEAD with GET. */
  readonly allow: string;
}

/** Table order: higher rank first (RouteTable sorts by it, then config order). */
export function compareRank(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return y - x; // higher rank sorts first
  }
  return 0;
}

/** The entry last compiled for each frozen route config (a pushed version's unchanged routes are the very objects of the last one): its matching data is a pure function of the config. */
const compiledEntries = new WeakMap<RouteConfig, Entry>();

/** The entry of `route`: the one last compiled for the same frozen config, else a fresh one. */
export function compile(route: CompiledRoute): Entry {
  const cfg = route.config;
  const frozen = Object.isFrozen(cfg) && Object.isFrozen(cfg.match);
  const p = frozen ? compiledEntries.get(cfg) : undefined;
  // a literal of the same shape as parse's (no spread: the lookup loop reads these on every request)
  if (p !== undefined) return { route, segs: p.segs, lower: p.lower, slashEnd: p.slashEnd, kinds: p.kinds, paramNames: p.paramNames, hasParams: p.hasParams, wildcard: p.wildcard, methods: p.methods, hostExact: p.hostExact, hostSuffix: p.hostSuffix, rank: p.rank, shape: p.shape, refusal: null };
  const e = parse(route);
  if (frozen) compiledEntries.set(cfg, e);
  return e;
}

function parse(route: CompiledRoute): Entry {
  const cfg = route.config;
  const segs = cfg.match.path.split('/').slice(1);
  const wildcard = segs[segs.length - 1] === '*';
  const kinds = segs.map((s) => (s === '*' ? WILD : s.startsWith(':') ? PARAM : LIT));
  const paramNames = segs.map((s) => (s.startsWith(':') ? s.slice(1) : null));
  const host = cfg.match.host?.toLowerCase() ?? null;
  const hostSpec = host === null ? 0 : host.startsWith('*.') ? 1 : 2;
  let methods: Set<string> | null = null;
  if (cfg.match.methods !== undefined) {
    methods = new Set(cfg.match.methods.map((m) => m.toUpperCase()));
    if (methods.has('GET')) methods.add('HEAD'); // HEAD is GET without a body
  }
  const rank = [hostSpec, ...kinds, ...(wildcard ? [] : [END]), methods === null ? 0 : 1];
  return {
    route, segs, lower: segs.map((x) => x.toLowerCase()), slashEnd: segs.length > 1 && segs[segs.length - 1] === '',
    kinds, paramNames, hasParams: paramNames.some((p) => p !== null), wildcard, methods,
    hostExact: hostSpec === 2 ? host : null,
    hostSuffix: hostSpec === 1 ? host!.slice(1) : null,
    rank, shape: `${host ?? ''} ${segs.map((x, i) => (kinds[i] === PARAM ? ':' : x)).join('/')}`, refusal: null,
  };
}

/** Every method the routes of each host and path shape list (HEAD with GET): the Allow of a refusal. */
export function listedMethodsByShape(entries: readonly Entry[]): Map<string, Set<string>> {
  const byShape = new Map<string, Set<string>>();
  for (const o of entries) {
    if (o.methods === null) continue;
    let allow = byShape.get(o.shape);
    if (allow === undefined) byShape.set(o.shape, allow = new Set());
    for (const m of o.route.config.match.methods!) { const u = m.toUpperCase(); allow.add(u); if (u === 'GET') allow.add('HEAD'); }
  }
  return byShape;
}

/** The 405 of a refusing entry: Allow names every method the routes of its host and path list (HEAD with GET). */
export function refusalOf(e: Entry, allowByShape: ReadonlyMap<string, ReadonlySet<string>>): MethodRefused {
  return Object.freeze({ refusedBy: e.route.name, allow: [...(allowByShape.get(e.shape) ?? [])].join(', ') });
}
