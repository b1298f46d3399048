// Extract stage: finds the one bearer credential of a request (RFC 6750 §2) in the
// Authorization header, the route's extra header or cookie, or — only where the route
// allows it — the access_token query parameter. Never throws; allocates only on success.
import { proxyError } from '../errors.js';
import type { RouteAuthConfig } from '../config/index.js';
import { b64token } from './b64token-memo.js';
import { byteDecode, foldedIs, phpName } from './name-readings.js';
import { formDecode, queryTokens } from './query-tokens.js';
import { CONTINUE, type RequestContext, type StageResult } from './context.js';

/** Where a route accepts a token besides `Authorization: Bearer`. */
export interface CompiledSources {
  /** Lower-cased name of a header carrying the bare token, or null. */
  readonly header: string | null;
  /** Cookie name (case-sensitive, RFC 6265), or null. */
  readonly cookie: string | null;
  /** The name PHP reads that cookie under when it differs (`auth.token` is `$_COOKIE['auth_token']`), else null. */
  readonly cookiePhp: string | null;
  /** Accept `?access_token=` (RFC 6750 §2.3). */
  readonly query: boolean;
  /** `grpc-metadata-` + `header` (grpc-gateway's spelling of it: a second credential), or null. */
  readonly gatewayHeader: string | null;
}

/** Only `Authorization: Bearer`; query tokens refused. */
export const BEARER_ONLY: CompiledSources = Object.freeze({ header: null, cookie: null, cookiePhp: null, query: false, gatewayHeader: null });

/** Compile a route's `auth.token_sources` once, at config load. */
export function compileSources(cfg: RouteAuthConfig['token_sources'] | undefined): CompiledSources {
  if (cfg === undefined) return BEARER_ONLY;
  const header = cfg.header !== undefined ? cfg.header.toLowerCase() : null;
  const cookie = cfg.cookie ?? null;
  const query = cfg.query === true;
  if (header === null && cookie === null && !query) return BEARER_ONLY;
  // a name with `[` is an array in PHP: other names under it are other keys, not this cookie
  const php = cookie === null || cookie.indexOf('[') !== -1 ? null : phpName(cookie);
  return Object.freeze({ header, cookie, cookiePhp: php === cookie ? null : php, query, gatewayHeader: header === null ? null : `grpc-metadata-${header}` });
}

const deny = (message: string, reason: string): StageResult =>
  Object.freeze({ kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_REQUEST', message)), reason });

const MULTIPLE = deny('more than one credential sent', 'multiple_credentials');
const MALFORMED_AUTHORIZATION = deny('malformed Bearer credentials in Authorization header', 'malformed_authorization');
const MALFORMED_DPOP = deny('malformed DPoP credentials in Authorization header', 'malformed_authorization_dpop');
const MALFORMED_HEADER = deny('malformed token in the token header', 'malformed_token_header');
const MALFORMED_COOKIE = deny('malformed token in the token cookie', 'malformed_token_cookie');
const MALFORMED_QUERY = deny('malformed access_token query parameter', 'malformed_token_query');
/**
 * RFC 6750 §3.1: a request that "attempted using an unsupported authentication method" is
 * treated like one without credentials — 401 with the bare challenge, no error code.
 */
/**
 * Added to the response of a request whose token came from the query (RFC 6750 §2.3: "SHOULD include
 * a Cache-Control header containing the private option"): a shared cache must not keep an answer whose
 * URI carries a credential. A second Cache-Control line beside the upstream's own (RFC 9111 §5.2: lines
 * combine into one list); `private` wins over `public` for a shared cache.
 */
const QUERY_TOKEN_RESPONSE_HEADERS: readonly string[] = Object.freeze(['cache-control', 'private']);

const QUERY_UNSUPPORTED: StageResult = Object.freeze({
  kind: 'deny' as const,
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_MISSING', 'a bearer token is required (access_token in the query is not accepted on this route)')),
  reason: 'query_token_unsupported',
});

/** Sentinels of parseAuthorization. */
const NOT_BEARER = 0;
const MALFORMED = 1;

function isOws(c: number): boolean { return c === 0x20 || c === 0x09; }

/** Value without leading/trailing spaces and tabs (RFC 9110 §5.5 OWS). */
function trimOws(v: string): string {
  let a = 0;
  let b = v.length;
  while (a < b && isOws(v.charCodeAt(a))) a++;
  while (b > a && isOws(v.charCodeAt(b - 1))) b--;
  return a === 0 && b === v.length ? v : v.slice(a, b);
}

/**
 * `v` starts with `lower` (lower-case ASCII letters) in any case, by char codes: no slice or
 * toLowerCase string per request. `c | 0x20` equals a letter a–z only for that letter and its
 * upper case, so nothing else matches (no letter of bearer/dpop has a non-ASCII case form).
 */
function schemeIs(v: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((v.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** RFC 9110 §5.6.2 tchar: what may follow `Bearer` in another scheme's name. */
function isTchar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

/** Scheme of the last value parseAuthorization recognised (a module slot: no allocation per call). */
let parsedScheme: 'bearer' | 'dpop' = 'bearer';

/**
 * `Bearer <b64token>` or `DPoP <b64token>` (RFC 9449 §7.1) → the token, its scheme in
 * parsedScheme; another scheme (Basic, Digest…) → NOT_BEARER; scheme Bearer/DPoP (any case)
 * with anything but 1*SP and exactly one b64token after it, or run into a character no scheme
 * name has (`Bearer:x`) → MALFORMED.
 */
function parseAuthorization(raw: string): string | typeof NOT_BEARER | typeof MALFORMED {
  const v = trimOws(raw);
  let end = 0;
  while (end < v.length && !isOws(v.charCodeAt(end))) end++;
  if (end === 6 && schemeIs(v, 'bearer')) parsedScheme = 'bearer';
  else if (end === 4 && schemeIs(v, 'dpop')) parsedScheme = 'dpop';
  // `Bearer:…`, `Bearer,…`, `Bearer=…`: no scheme at all (RFC 9110 §11.1: a scheme is a token), but an
  // upstream that checks a prefix (`startsWith("Bearer")`, then `substring(7)`) or takes the word after
  // a space reads a token there; `Bearerx` or `Bearer-2` would be another scheme's name
  else if (end > 6 && schemeIs(v, 'bearer') && !isTchar(v.charCodeAt(6))) { parsedScheme = 'bearer'; return MALFORMED; }
  else if (end > 4 && schemeIs(v, 'dpop') && !isTchar(v.charCodeAt(4))) { parsedScheme = 'dpop'; return MALFORMED; }
  else return NOT_BEARER;
  let i = end;
  while (i < v.length && v.charCodeAt(i) === 0x20) i++;
  if (i === end || i === v.length) return MALFORMED; // "Bearer", "Bearer\t…"
  return b64token(v.slice(i), raw.length) ?? MALFORMED;
}

/** `a` and `b` differ at most in the case of ASCII letters (no string made per call). */
function sameIgnoringCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const lx = x | 0x20;
    if (lx !== (y | 0x20) || lx < 0x61 || lx > 0x7a) return false;
  }
  return true;
}

/**
 * `key` is not `name` but an upstream reads it as `name`: in another case (ASP.NET Core and other
 * case-insensitive collections), or as PHP mangles cookie names (`auth.token` or `auth token` is
 * `$_COOKIE['auth_token']`, `session[x]` an array there) — PHP reads `name` itself as `php` when that is
 * not null (`auth_token` for a token cookie `auth.token`), or percent-decoded (`%73ession`). No string made
 * unless `key` has `.`, `[`, a space, `%` or `+`.
 */
function readAsCookie(key: string, name: string, php: string | null): boolean {
  if (key === name) return false;
  if (readAsCookieName(key, name, php)) return true;
  // Rack before 2.2.3 (CVE-2020-8184), ASP.NET Core before CVE-2020-1045's fix and PHP before 7.4.31/8.0.24/8.1.11
  // (CVE-2022-31629) percent-decode cookie names (Rack and PHP `+` too): `%73ession` is their `session`
  if (key.indexOf('%') === -1 && key.indexOf('+') === -1) return false;
  const decoded = byteDecode(key);
  if (decoded === name || readAsCookieName(decoded, name, php)) return true;
  // PHP reads the decoded name as a C string: a NUL ends it, `session%00x` is `$_COOKIE['session']`
  if (decoded.indexOf('\0') !== -1 && phpName(decoded) === (php ?? name)) return true;
  // ASP.NET Core's cookie collection ignores case as .NET does: `%C5%BFession` (ſ) is its `session`
  let text: string;
  try { text = decodeURIComponent(key); } catch { return false; }
  return foldedIs(text, name.toLowerCase());
}

/** readAsCookie's readings of `key` as written: another case, PHP's mangled name. */
function readAsCookieName(key: string, name: string, php: string | null): boolean {
  if (sameIgnoringCase(key, name)) return true;
  if (key === php) return true;
  return (key.indexOf('.') !== -1 || key.indexOf('[') !== -1 || key.indexOf(' ') !== -1) && phpName(key) === (php ?? name);
}

/**
 * True when `pair` (one `;`-separated piece of a Cookie header) holds `, name=value` after a comma: RFC 6265
 * parsers read it as one cookie whose name or value has a comma, but Rack 2 (Rails), Tomcat's legacy and
 * Jetty's RFC 2965 parsers split on `,` too and read a cookie `name` there (in any case, for the
 * case-insensitive ones). No b64token has a comma, so a token cookie never looks like this.
 */
function commaHidden(pair: string, name: string, php: string | null): boolean {
  let comma = pair.indexOf(',');
  while (comma !== -1) {
    const eq = pair.indexOf('=', comma);
    const next = pair.indexOf(',', comma + 1);
    if (eq !== -1 && (next === -1 || eq < next)) {
      const key = trimOws(pair.slice(comma + 1, eq));
      if (key === name || readAsCookie(key, name, php)) return true;
    }
    comma = next;
  }
  return false;
}

/**
 * Value of cookie `name` in one Cookie header: undefined absent, null when present twice — or
 * present under a name an upstream reads as it (readAsCookie: `Session` for `session`; RFC 6265
 * names are case-sensitive, but an upstream that reads them otherwise would take that one) —
 * or after a comma inside another pair (commaHidden), where comma-splitting upstreams read it.
 */
function cookieValue(header: string, name: string, php: string | null, prev: string | undefined | null): string | undefined | null {
  if (prev === null) return null;
  let found = prev;
  let start = 0;
  const commas = header.indexOf(',') !== -1;
  while (start <= header.length) {
    let semi = header.indexOf(';', start);
    if (semi === -1) semi = header.length;
    const eq = header.indexOf('=', start);
    const key = eq !== -1 && eq < semi ? trimOws(header.slice(start, eq)) : null;
    if (commas && commaHidden(header.slice(start, semi), name, php)) return null;
    if (key !== null && readAsCookie(key, name, php) && trimOws(header.slice(eq + 1, semi)) !== '') return null;
    if (key === name) {
      let value = trimOws(header.slice(eq + 1, semi));
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
      if (value !== '') {
        if (found !== undefined) return null;
        found = value;
      }
    }
    start = semi + 1;
  }
  return found;
}

/**
 * Find the request's credential and set `ctx.token` / `ctx.tokenSource` (null when none:
 * authenticate then answers 401 without an error code). Choices, per RFC 6750:
 * - a non-Bearer Authorization scheme (Basic…) is not a bearer credential: ignored here;
 *   `DPoP` (RFC 9449) is read like Bearer, with ctx.tokenScheme = 'dpop' (the proof is checked later);
 * - `Bearer` with a missing, repeated or non-b64token value is a malformed *request*
 *   (§3.1 invalid_request, 400), not a malformed token: no token could be read from it;
 * - two Authorization headers, or a token in more than one place → 400 invalid_request;
 * - `access_token` in the query where the route does not set `token_sources.query: true` is an
 *   unsupported method: alone it is no credential (401, bare challenge, §3.1); next to another
 *   credential it is still a second one (400), so an unverified token never reaches an upstream
 *   that might read the query itself;
 * - `Grpc-Metadata-Authorization` (and `Grpc-Metadata-<token header>`) likewise: grpc-gateway hands
 *   it to the gRPC service as a second `authorization` value — alone no credential, next to one a second (400).
 */
export function extract(ctx: RequestContext, sources: CompiledSources = BEARER_ONLY): StageResult {
  let token: string | null = null;
  let source: RequestContext['tokenSource'] = null;
  let scheme: 'bearer' | 'dpop' = 'bearer';
  let checked: string | null = null;
  let authorizations = 0;
  let custom = 0;
  let cookie: string | undefined | null;
  let gateway = false;
  const h = ctx.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (name === 'authorization') {
      if (++authorizations > 1) return MULTIPLE;
      const r = parseAuthorization(h[i + 1]!);
      if (r === MALFORMED) return parsedScheme === 'dpop' ? MALFORMED_DPOP : MALFORMED_AUTHORIZATION;
      if (r === NOT_BEARER) continue;
      if (token !== null) return MULTIPLE;
      token = r;
      scheme = parsedScheme;
      source = 'header';
      checked = h[i + 1]!;
    } else if (name === sources.header) {
      const v = trimOws(h[i + 1]!);
      if (v === '') continue;
      if (++custom > 1 || token !== null) return MULTIPLE;
      token = b64token(v, h[i + 1]!.length);
      if (token === null) return MALFORMED_HEADER;
      source = 'custom-header';
    } else if (name === 'cookie' && sources.cookie !== null) {
      cookie = cookieValue(h[i + 1]!, sources.cookie, sources.cookiePhp, cookie);
      if (cookie === null) return MULTIPLE;
    } else if (name === 'grpc-metadata-authorization' || name === sources.gatewayHeader) {
      gateway = true;
    }
  }
  if (cookie !== undefined && cookie !== null) {
    if (token !== null) return MULTIPLE;
    token = b64token(cookie, Infinity); // cut from one of the Cookie headers: copied before it is kept
    if (token === null) return MALFORMED_COOKIE;
    source = 'cookie';
  }
  if (ctx.query !== '') {
    const q = queryTokens(ctx.query);
    if (q !== null) {
      if (token !== null) return MULTIPLE;
      if (!sources.query) return QUERY_UNSUPPORTED;
      if (q.length > 1) return MULTIPLE;
      const v = formDecode(q[0]!);
      token = v === null ? null : b64token(v, ctx.query.length);
      if (token === null) return MALFORMED_QUERY;
      source = 'query';
      ctx.responseHeaders = QUERY_TOKEN_RESPONSE_HEADERS;
    }
  }
  if (gateway && token !== null) return MULTIPLE;
  ctx.token = token;
  ctx.tokenSource = source;
  ctx.tokenScheme = scheme;
  ctx.checkedAuthorization = checked;
  return CONTINUE;
}
