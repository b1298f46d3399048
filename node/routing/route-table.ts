// The route table, compiled once per config load: host, method and path-pattern
// matching with a documented "most specific wins" order. Read-only after build.
import type { RouteConfig } from '../config/index.js';
import type { CompiledRoute } from '../pipeline/context.js';

const LIT = 3, PARAM = 2, WILD = 1, END = 4;

interface Entry {
  readonly route: CompiledRoute;
  readonly segs: readonly string[]; // pattern segments after the leading '/'
  readonly kinds: readonly number[]; // LIT/PARAM/WILD per segment
  readonly paramNames: readonly (string | null)[];
  readonly hasParams: boolean;
  readonly wildcard: boolean; // last segment is '*'
  readonly methods: ReadonlySet<string> | null;
  readonly hostExact: string | null;
  readonly hostSuffix: string | null; // '.example.com' for *.example.com
  readonly rank: readonly number[]; // [hostSpec, ...pathKinds, END?, methodSpec]
}

export interface RouteMatch {
  readonly route: CompiledRoute;
  readonly params: Record<string, string> | null;
}

/** Why a lookup failed: no route at all for the path, or none for this method. */
export type RouteMiss = 'not_found';

function compareRank(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return y - x; // higher rank sorts first
  }
  return 0;
}

function compile(route: CompiledRoute): Entry {
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
    route, segs, kinds, paramNames, hasParams: paramNames.some((p) => p !== null), wildcard, methods,
    hostExact: hostSpec === 2 ? host : null,
    hostSuffix: hostSpec === 1 ? host!.slice(1) : null,
    rank,
  };
}

function hostMatches(e: Entry, host: string): boolean {
  if (e.hostExact !== null) return host === e.hostExact;
  if (e.hostSuffix !== null) return host.length > e.hostSuffix.length && host.endsWith(e.hostSuffix);
  return true;
}

/** Path match of an entry against a normalised path; returns params or true/false. */
function pathMatches(e: Entry, path: string): Record<string, string> | boolean {
  // Split lazily without allocating for the common all-literal prefix case.
  let pos = 1; // after leading '/'
  const segs = e.segs;
  let params: Record<string, string> | null = null;
  for (let i = 0; i < segs.length; i++) {
    const kind = e.kinds[i]!;
    if (kind === WILD) {
      // '/api/*' matches '/api', '/api/' and '/api/anything'
      return params ?? true;
    }
    if (pos > path.length) return false;
    let end = path.indexOf('/', pos);
    if (end === -1) end = path.length;
    if (kind === LIT) {
      const s = segs[i]!;
      if (end - pos !== s.length || !path.startsWith(s, pos)) return false;
    } else {
      if (end === pos) return false; // a parameter is never empty
      if (params === null) params = {};
      params[e.paramNames[i]!] = path.slice(pos, end);
    }
    pos = end + 1;
  }
  if (pos <= path.length) return false; // path has more segments than the pattern
  return params ?? true;
}

/**
 * Routing order ("most specific wins"): host first (exact host > *.wildcard host > any
 * host), then the path compared segment by segment (literal > :param > * and an exact
 * end > a trailing *), then routes with a method list over routes for any method.
 * Ties keep config order. `/api/*` also matches `/api` itself.
 */
export class RouteTable {
  private readonly entries: readonly Entry[];
  readonly routes: readonly CompiledRoute[];

  constructor(routes: readonly CompiledRoute[]) {
    this.routes = routes;
    const entries = routes.map(compile);
    entries.sort((a, b) => compareRank(a.rank, b.rank) || a.route.index - b.route.index);
    this.entries = entries;
  }

  /** Find the route for a request. `host` lower-case, without port; `path` normalised. */
  match(method: string, host: string, path: string): RouteMatch | null {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.methods !== null && !e.methods.has(method)) continue;
      if (!hostMatches(e, host)) continue;
      const m = pathMatches(e, path);
      if (m === false) continue;
      return { route: e.route, params: m === true ? null : m };
    }
    return null;
  }
}

export type { RouteConfig };
