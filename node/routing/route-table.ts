// The route table, compiled once per config load: host, method and path-pattern
// matching with a documented "most specific wins" order, and the check that every way an
// upstream family reads the forwarded path selects the same route (routes compiled by route-entry.ts).
// Read-only after build.
import type { RouteConfig } from '../config/index.js';
import { stripParams } from './path-normalize.js';
import { trimSegments } from './segment-trim.js';
import { foldAsciiLookalikes, foldDottedI } from './case-fold.js';
import type { CompiledRoute } from '../pipeline/context.js';
import { LIT, RouteIndex, WILD } from './route-index.js';
import { compareRank, compile, listedMethodsByShape, refusalOf, type Entry, type MethodRefused } from './route-entry.js';
export type { MethodRefused } from './route-entry.js';

/**
 * Tables of up to this many routes are scanned: below it the scan costs less than the index's walk
 * (bench/micro/route-lookup.bench.mjs); above it the index keeps a lookup's cost off the route count.
 */
const SCAN_UP_TO = 16;
/** The index's candidate positions of one lookup (lookups are synchronous: one buffer serves them all). */
const candidates: number[] = [];

export interface RouteMatch {
  readonly route: CompiledRoute;
  readonly params: Record<string, string> | null;
}

/** The route a resolve() answer selects; null when it selects none (no route, ambiguous, method refused). */
export function routeOf(m: RouteMatch | MethodRefused | Ambiguous | null): CompiledRoute | null {
  return m === null || m === AMBIGUOUS || !('route' in m) ? null : m.route;
}

/** Why a lookup failed: no route at all for the path, or none for this method. */
export type RouteMiss = 'not_found';

/** resolve(): the upstream families read this path as one that selects another route (→ 400). */
export const AMBIGUOUS = 'ambiguous';
export type Ambiguous = typeof AMBIGUOUS;

/** A reading of a forwarded path some upstream family uses (server.paths.upstream_readings). */
export type UpstreamReading = 'case' | 'trailing_slash' | 'trailing_dot' | 'segment_spaces';

/** How upstreams may read a forwarded path differently from the proxy (server.paths). */
export interface ReadingOptions {
  /** Route on each segment without its `;…` parameters (Servlet reading); else `;` never gets here. */
  readonly allowParams: boolean;
  /** Readings checked: 'case' (Express, IIS), 'trailing_slash' (Express, Spring 5), 'trailing_dot' (IIS/Windows), 'segment_spaces' (Spring < 4.3 trimTokens, IIS). */
  readonly refuse: readonly UpstreamReading[];
}

const STRICT: ReadingOptions = Object.freeze({ allowParams: false, refuse: [] });

// reading bits
const FOLD = 1, NO_SLASH = 2, NO_DOTS = 4, NO_SPACES = 8;

function hostMatches(e: Entry, host: string): boolean {
  if (e.hostExact !== null) return host === e.hostExact;
  if (e.hostSuffix !== null) return host.length > e.hostSuffix.length && host.endsWith(e.hostSuffix);
  return true;
}

/** `lit` (lower case) equals path[pos, pos + lit.length) ignoring ASCII case. */
function equalsFolded(path: string, pos: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) {
    let c = path.charCodeAt(pos + i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lit.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Path match of an entry against a normalised path; returns params or true/false. `fold`:
 * literal segments compare ignoring ASCII case; `noSlash`: a pattern's trailing '/' is
 * ignored (the caller drops the path's).
 */
function pathMatches(e: Entry, path: string, fold = false, noSlash = false): Record<string, string> | boolean {
  // Split lazily without allocating for the common all-literal prefix case.
  let pos = 1; // after leading '/'
  const segs = fold ? e.lower : e.segs;
  const count = noSlash && e.slashEnd ? segs.length - 1 : segs.length;
  let params: Record<string, string> | null = null;
  for (let i = 0; i < count; i++) {
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
      if (end - pos !== s.length || !(fold ? equalsFolded(path, pos, s) : path.startsWith(s, pos))) return false;
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
/** The readings a config asks for (server.paths). */
export function readingsOf(paths: { readonly allow_params: boolean; readonly upstream_readings: readonly UpstreamReading[] }): ReadingOptions {
  return { allowParams: paths.allow_params, refuse: paths.upstream_readings };
}

export class RouteTable {
  private readonly entries: readonly Entry[];
  readonly routes: readonly CompiledRoute[];
  private readonly allowParams: boolean;
  private readonly caseReading: boolean;
  private readonly slashReading: boolean;
  private readonly dotReading: boolean;
  private readonly spaceReading: boolean;
  /** Some pattern has an upper-case letter: the case reading can differ for any path. */
  private readonly upperPatterns: boolean;
  /** Some pattern ends with '/': the trailing-slash reading can differ for any path. */
  private readonly slashPatterns: boolean;
  /** Host buckets and pattern trees over `entries`; null while the table is small enough to scan. */
  private readonly index: RouteIndex | null;

  constructor(routes: readonly CompiledRoute[], readings: ReadingOptions = STRICT) {
    this.routes = routes;
    const entries = routes.map(compile);
    entries.sort((a, b) => compareRank(a.rank, b.rank) || a.route.index - b.route.index);
    this.entries = entries;
    const allowByShape = listedMethodsByShape(entries);
    for (const e of entries) if (e.methods !== null && e.route.config.other_methods === 'refuse') e.refusal = refusalOf(e, allowByShape);
    this.allowParams = readings.allowParams;
    this.caseReading = readings.refuse.includes('case');
    this.slashReading = readings.refuse.includes('trailing_slash');
    this.dotReading = readings.refuse.includes('trailing_dot');
    this.spaceReading = readings.refuse.includes('segment_spaces');
    this.upperPatterns = entries.some((e) => e.segs.some((x, i) => e.kinds[i] === LIT && x !== e.lower[i]));
    this.slashPatterns = entries.some((e) => e.slashEnd);
    this.index = entries.length > SCAN_UP_TO ? new RouteIndex(entries, this.caseReading && this.upperPatterns) : null;
  }

  /** Find the route for a request as written. `host` lower-case, without port; `path` normalised. */
  match(method: string, host: string, path: string): RouteMatch | MethodRefused | null {
    return this.lookup(method, host, path, 0);
  }

  /**
   * The route for a request the way every upstream family reads it, or AMBIGUOUS (→ 400)
   * when they disagree. The proxy's own reading is the path as written (with allowParams:
   * without its `;…` parameters, the Servlet reading). Each other reading the config lists —
   * literal segments ignoring case (Express's default, IIS; with the escapes of İ ı ſ K read as
   * i i s k, as Java and Unicode simple case folding match them, and of the characters NFKC maps
   * to ASCII read as that ASCII, fullwidth `ａ` as `a`), a trailing '/' ignored (Express
   * `strict: false`, Spring 5 trailing-slash match), trailing dots of segments dropped
   * (Windows/IIS), spaces at the edges of segments dropped (Spring < 4.3 trimTokens, IIS) —
   * and every combination of them must select the same route with the same parameters; a
   * reading that finds no route while another does counts as a disagreement, and so does a
   * segment that trimming spaces turns into `.` or `..`. Paths none of the readings changes
   * (lower case, no trailing '/' or '.', no `%20`) cost a few scans and no allocation.
   */
  resolve(method: string, host: string, path: string): RouteMatch | MethodRefused | null | Ambiguous {
    const p = this.allowParams ? stripParams(path) : path;
    let bits = 0;
    // the case reading also takes İ ı ſ K for i i s k (Java, Unicode simple folding) and NFKC's ASCII (ａ for a)
    const folded = this.caseReading ? foldAsciiLookalikes(p) : p;
    if (this.caseReading && (this.upperPatterns || hasUpper(p) || folded !== p)) bits |= FOLD;
    if (this.slashReading && (this.slashPatterns || (p.length > 1 && p.charCodeAt(p.length - 1) === 47))) bits |= NO_SLASH;
    if (this.spaceReading && p.indexOf('%20') !== -1) bits |= NO_SPACES;
    // a dot before a dropped space ends its segment too (`v.%20` is `v` to IIS)
    if (this.dotReading && (p.charCodeAt(p.length - 1) === 46 || p.indexOf('./') !== -1 || ((bits & NO_SPACES) !== 0 && p.indexOf('.%20') !== -1))) bits |= NO_DOTS;
    const m = this.lookup(method, host, p, 0);
    if (bits === 0) return m;
    // every non-empty combination of the readings that apply (at most 15 lookups)
    for (let r = 1; r <= bits; r++) {
      if ((r & bits) !== r) continue;
      let q = (r & FOLD) !== 0 ? folded : p;
      if ((r & (NO_DOTS | NO_SPACES)) !== 0) {
        const t = trimSegments(q, (r & NO_DOTS) !== 0, (r & NO_SPACES) !== 0);
        if (t === null) return AMBIGUOUS;
        q = t;
      }
      const other = this.lookup(method, host, q, r);
      if (!sameMatch(m, other, (r & FOLD) !== 0)) return AMBIGUOUS;
    }
    return m;
  }

  /**
   * Lookup of `path` (already trimmed for the dot and space readings) with the case (bit 1) and
   * trailing-slash (bit 2) readings in `reading`. Protected for the test that checks it against a linear scan.
   */
  protected lookup(method: string, host: string, path: string, reading: number): RouteMatch | MethodRefused | null {
    if ((reading & NO_SLASH) !== 0 && path.length > 1 && path.charCodeAt(path.length - 1) === 47) path = path.slice(0, -1);
    const fold = (reading & FOLD) !== 0;
    const noSlash = (reading & NO_SLASH) !== 0;
    const entries = this.entries;
    // TRACE/TRACK echo the request the upstream got back to the client — identity headers and an
    // internal token minted for the upstream among them: only a route that lists the method takes it
    const echoes = method === 'TRACE' || method === 'TRACK';
    // CONNECT asks for a tunnel (RFC 9110 §9.3.6), whatever its target: no route takes it (the schema refuses it in methods)
    if (method === 'CONNECT') return null;
    if (this.index !== null) return this.indexed(method, echoes, host, path, fold, noSlash);
    // other_methods: refuse — a method its host and path take from no route as specific is refused, not passed on
    let refuser: Entry | null = null;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.methods === null ? echoes : !e.methods.has(method)) {
        if (e.refusal !== null && refuser === null && hostMatches(e, host) && pathMatches(e, path, fold, noSlash) !== false) refuser = e;
        continue;
      }
      if (!hostMatches(e, host)) continue;
      const m = pathMatches(e, path, fold, noSlash);
      if (m === false) continue;
      if (refuser !== null && refuser.shape !== e.shape) return refuser.refusal;
      return { route: e.route, params: m === true ? null : m };
    }
    return refuser?.refusal ?? null;
  }

  /**
   * The scan's answer from the index's candidates: the first entry in table order that takes the method
   * and matches, unless a refuser of another shape comes before it; candidates after the best so far are skipped.
   */
  private indexed(method: string, echoes: boolean, host: string, path: string, fold: boolean, noSlash: boolean): RouteMatch | MethodRefused | null {
    const entries = this.entries;
    const n = this.index!.candidates(host, path, fold, noSlash, candidates);
    let best = entries.length, params: Record<string, string> | true = true, refuser = entries.length;
    for (let k = 0; k < n; k++) {
      const i = candidates[k]!;
      if (i >= best) continue;
      const e = entries[i]!;
      if (e.methods === null ? echoes : !e.methods.has(method)) {
        if (e.refusal !== null && i < refuser && hostMatches(e, host) && pathMatches(e, path, fold, noSlash) !== false) refuser = i;
        continue;
      }
      if (!hostMatches(e, host)) continue;
      const m = pathMatches(e, path, fold, noSlash);
      if (m === false) continue;
      best = i;
      params = m;
    }
    if (refuser < best && (best === entries.length || entries[refuser]!.shape !== entries[best]!.shape)) return entries[refuser]!.refusal;
    if (best === entries.length) return null;
    return { route: entries[best]!.route, params: params === true ? null : params };
  }

  /**
   * For each of `methods` on `host` and `path` as written: the first route with a method list that has
   * the path but not the method (`from`), and the route that takes the request after it instead (`to`):
   * of another host or path shape (`sameShape` false; not when `from` refuses the fall), or of the same
   * shape without a method list (`sameShape` true: `other_methods: refuse` does not stop it). Methods no
   * route is passed over for are left out. check-config's fall-through report
   * (node/routing/method-fall-through.ts); never on the request path.
   */
  passedOver(methods: Iterable<string>, host: string, path: string): Array<{ method: string; from: CompiledRoute; to: CompiledRoute; sameShape: boolean }> {
    const at: number[] = [];
    at.length = (this.index ?? (this.reportIndex ??= new RouteIndex(this.entries, false))).candidates(host, path, false, false, at);
    at.sort((a, b) => a - b);
    const hits = at.map((i) => this.entries[i]!).filter((e) => hostMatches(e, host) && pathMatches(e, path) !== false);
    const out: Array<{ method: string; from: CompiledRoute; to: CompiledRoute; sameShape: boolean }> = [];
    for (const method of methods) {
      let from: Entry | null = null;
      for (const e of hits) {
        if (e.methods !== null && !e.methods.has(method)) { from ??= e; continue; }
        if (e.methods === null && (method === 'TRACE' || method === 'TRACK')) continue;
        if (from !== null && from.shape !== e.shape && from.refusal === null) out.push({ method, from: from.route, to: e.route, sameShape: false });
        // a route of the same shape that lists its methods is a choice; one without a list takes the rest
        else if (from !== null && from.shape === e.shape && e.methods === null) out.push({ method, from: from.route, to: e.route, sameShape: true });
        break;
      }
    }
    return out;
  }

  /**
   * passedOver's index for a table small enough to scan. Before the tree, each probe scanned every route
   * under the same first segment: a 10 000-route cluster policy held the event loop ~16 s when it was applied.
   */
  private reportIndex: RouteIndex | undefined;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/**
 * Same route, same parameters (or both the same refusal / no route). `folded`: `b` is a case reading,
 * whose parameters are `a`'s with İ ı read as i (no upstream reads the parameter otherwise); any other
 * change is a disagreement.
 */
function sameMatch(a: RouteMatch | MethodRefused | null, b: RouteMatch | MethodRefused | null, folded: boolean): boolean {
  if (a === null || b === null || !('route' in a) || !('route' in b)) return a === b;
  if (a.route !== b.route) return false;
  if (a.params === null || b.params === null) return a.params === b.params;
  for (const k in a.params) if ((folded ? foldDottedI(a.params[k]!) : a.params[k]) !== b.params[k]) return false;
  return true;
}

export type { RouteConfig };
