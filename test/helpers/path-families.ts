// How upstream families read a request path and pick the handler registered for it,
// modelled from their documentation and source, independently of node/ (a model that
// reused the proxy's own normaliser could not catch a disagreement). Used by the property
// test (test/unit/routing/upstream-readings.test.ts) and by the node:http upstreams that
// stand in for Express and a Servlet container in the integration test.

/** One family: how it turns the request-target path into the path it routes on, and how it compares. */
export interface Family {
  readonly name: string;
  /** The path the family routes on, or null when it answers 400 itself. */
  read(raw: string): string | null;
  /** Literal route segments compare ignoring case. */
  readonly caseInsensitive: boolean;
  /** A trailing '/' on the path (or the registered route) does not matter. */
  readonly trailingSlashOptional: boolean;
}

/** Percent-decode every %XX (latin1 bytes, as the families do before routing); null on a bad escape. */
function decodeAll(s: string): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '%') { out += s[i]; continue; }
    const h = s.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(h)) return null;
    out += String.fromCharCode(parseInt(h, 16));
    i += 2;
  }
  return out;
}

/**
 * Dot segments and `//`: merge slashes, drop `.`, `..` removes the previous segment, a final
 * `.`/`..` leaves a trailing '/'; null when `..` climbs above the root (nginx and Tomcat
 * answer 400). nginx: ngx_http_parse_complex_uri with merge_slashes on (the default);
 * Tomcat: CoyoteAdapter.normalize.
 */
function resolveDots(p: string): string | null {
  const segs = p.split('/').slice(1);
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '' && !last) continue;
    if (s === '.' || s === '..') {
      if (s === '..') { if (out.length === 0) return null; out.pop(); }
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

/**
 * nginx (Linux build): the location is matched against the normalised URI — "%XX" decoded,
 * `.` and `..` resolved, adjacent slashes merged — case-sensitively; `;` is an ordinary
 * character (ngx_http_core_module "location"). Modelled for the property test; the
 * integration test runs the real nginx.
 */
export const NGINX: Family = {
  name: 'nginx',
  read: (raw) => { const d = decodeAll(raw); return d === null ? null : resolveDots(d); },
  caseInsensitive: false,
  trailingSlashOptional: false,
};

/**
 * Tomcat (Servlet spec 12.2 mapping), CoyoteAdapter.postParseRequest: the raw URI first loses
 * every path parameter — from each `;` to the next '/' (parsePathParameters, on the bytes
 * before decoding, so `%3B` is data) — then %XX is decoded (an encoded '/' is refused:
 * encodedSolidusHandling=reject) and the result normalised (a '\' is refused:
 * allowBackslash=false; dot segments resolved, `//` merged, `..` above the root → 400).
 * Servlet mappings compare case-sensitively; `/a/b` and `/a/b/` are different paths.
 */
export const SERVLET: Family = {
  name: 'servlet',
  read: (raw) => {
    const noParams = raw.replace(/;[^/]*/g, '');
    const d = decodeAll(noParams);
    if (d === null || d.includes('\\') || /%2f/i.test(noParams)) return null;
    return resolveDots(d);
  },
  caseInsensitive: false,
  trailingSlashOptional: false,
};

/**
 * Spring MVC 5.x on a Servlet container: UrlPathHelper removes `;` content, decodes and merges
 * `//` (the container already resolved dot segments); `setUseTrailingSlashMatch` defaults to
 * true before 6.0, so `/a/b/` reaches the handler of `/a/b`; AntPathMatcher is case-sensitive.
 */
export const SPRING5: Family = { ...SERVLET, name: 'spring5', trailingSlashOptional: true };

/**
 * Spring MVC before 4.3 (and any AntPathMatcher left with `setTrimTokens(true)`, the old default;
 * CVE-2016-5007): the Servlet reading, then the path is tokenised on '/' with every token trimmed
 * (`String.trim`: spaces, after decoding) and empty tokens dropped, so `/admin%20/x`, `/%20admin/x`
 * and `/%20/admin/x` all reach the handler of `/admin/*`; trailing-slash match is on.
 */
export const SPRING_TRIM: Family = {
  name: 'spring-trim',
  read: (raw) => {
    const p = SERVLET.read(raw);
    if (p === null) return null;
    const tokens = p.split('/').map((t) => t.trim()).filter((t) => t !== '');
    return '/' + tokens.join('/') + (tokens.length > 0 && p.endsWith('/') ? '/' : '');
  },
  caseInsensitive: false,
  trailingSlashOptional: true,
};

/**
 * Express 4/5 (router + path-to-regexp): routes match `parseurl(req).pathname` as sent — no
 * decoding, no dot resolution — with `caseSensitive: false` and `strict: false` by default, so
 * `/V/x/` reaches the handler of `/v/x`; `;` is text. Checked against the real express 4.22.3
 * and 5.3.0 (installed outside the repository): 990 paths over exact, prefix (`app.use`) and
 * `:param` routes, no difference.
 */
export const EXPRESS: Family = {
  name: 'express',
  read: (raw) => raw,
  caseInsensitive: true,
  trailingSlashOptional: true,
};

/**
 * IIS / ASP.NET on Windows: %XX decoded, '\' read as '/', dot segments resolved, and every
 * segment loses its trailing dots and spaces (Win32 file names: `v.` and `v ` are `v`); routes
 * compare ignoring case and a trailing '/'.
 */
export const IIS: Family = {
  name: 'iis',
  read: (raw) => {
    const d = decodeAll(raw);
    if (d === null) return null;
    const r = resolveDots(d.replace(/\\/g, '/'));
    return r === null ? null : r.split('/').map((s) => s.replace(/[. ]+$/, '')).join('/');
  },
  caseInsensitive: true,
  trailingSlashOptional: true,
};

/** A letter as Java's `String.equalsIgnoreCase` compares it: by its upper case, then its lower case (`Character.toUpperCase`/`toLowerCase`, one char each). */
function javaFold(c: string): string {
  if (c === '\u0130') return 'i'; // Character.toLowerCase('İ') is 'i' (JS gives 'i' + U+0307)
  const up = c.toUpperCase();
  if (up.length === 1 && /[A-Z]/.test(up)) return up.toLowerCase();
  const low = c.toLowerCase();
  return low.length === 1 && /[a-z]/.test(low) ? low : c;
}

/**
 * A Servlet application whose handler mapping compares literal segments ignoring case as Java
 * does (`String.equalsIgnoreCase`, `regionMatches(true, …)`; Spring's `caseSensitive: false`):
 * the Servlet reading, UTF-8 decoded, each letter folded — so `İ` and `ı` are `i`, `ſ` is `s` and
 * the Kelvin sign is `k`, and `/adm%C4%B0n/x` reaches the handler of `/admin/*`.
 */
export const JAVA_CI: Family = {
  name: 'java-ci',
  read: (raw) => {
    const p = SERVLET.read(raw);
    if (p === null) return null;
    return Array.from(Buffer.from(p, 'latin1').toString('utf8'), javaFold).join('');
  },
  caseInsensitive: true,
  trailingSlashOptional: false,
};

/**
 * An upstream that reads its path after Unicode compatibility folding: UTF-8 decoded, NFKC
 * (`String.prototype.normalize`, ICU), then `\` read as '/' and dot segments resolved — as a
 * program does that normalises names with NFKC, or a Windows program whose ANSI code page maps
 * `．` `／` `＼` to `.` `/` `\` ("best fit"). `/x/%EF%BC%8E%EF%BC%8E/admin` is `/admin` to it.
 */
export const NFKC: Family = {
  name: 'nfkc',
  read: (raw) => {
    const d = decodeAll(raw);
    if (d === null) return null;
    return resolveDots(Buffer.from(d, 'latin1').toString('utf8').normalize('NFKC').replace(/\\/g, '/'));
  },
  caseInsensitive: false,
  trailingSlashOptional: false,
};

export const FAMILIES: readonly Family[] = [NGINX, SERVLET, SPRING5, SPRING_TRIM, JAVA_CI, EXPRESS, IIS, NFKC];

/** A route as the operator mirrors it upstream: the proxy's pattern and name. */
export interface RouteSpec { readonly name: string; readonly path: string }

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The proxy's documented order (README "Routing order"): per segment literal > :param > *, an exact end > a trailing *; ties keep config order. */
function rank(path: string): number[] {
  const segs = path.split('/').slice(1);
  const r: number[] = segs.map((s) => (s === '*' ? 1 : s.startsWith(':') ? 2 : 3));
  if (segs[segs.length - 1] !== '*') r.push(4);
  return r;
}

function byRank(routes: readonly RouteSpec[]): RouteSpec[] {
  return routes.map((r, i) => ({ r, i, k: rank(r.path) })).sort((a, b) => {
    for (let j = 0; j < Math.max(a.k.length, b.k.length); j++) {
      const x = a.k[j] ?? 0, y = b.k[j] ?? 0;
      if (x !== y) return y - x;
    }
    return a.i - b.i;
  }).map((x) => x.r);
}

/** The family's matcher for one registered route pattern (path-to-regexp style). */
function matcher(f: Family, pattern: string): RegExp {
  let segs = pattern.split('/').slice(1);
  const wild = segs[segs.length - 1] === '*';
  if (wild) segs = segs.slice(0, -1);
  if (f.trailingSlashOptional && !wild && segs.length > 1 && segs[segs.length - 1] === '') segs = segs.slice(0, -1);
  let re = segs.map((s) => '/' + (s.startsWith(':') ? '[^/]+' : esc(s))).join('');
  if (wild) re += '(?:/.*)?';
  else if (f.trailingSlashOptional && re !== '') re += '/?';
  if (re === '') re = '/';
  return new RegExp(`^${re}$`, f.caseInsensitive ? 'i' : '');
}

/**
 * The route whose handler serves a request for `raw` at an upstream of family `f` that
 * registered one handler per proxy route, most specific first (null: the family refuses the
 * path or no handler matches).
 */
export function familyRoute(f: Family, routes: readonly RouteSpec[], raw: string): string | null {
  const p = f.read(raw);
  if (p === null) return null;
  for (const r of byRank(routes)) if (matcher(f, r.path).test(p)) return r.name;
  return null;
}
