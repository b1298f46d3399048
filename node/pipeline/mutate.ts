// Mutate stage: what the upstream learns about the caller. Client-sent identity headers
// are always removed (isIdentityHeader, used by the forwarder while copying headers);
// configured claims are added as headers; the inbound token is dropped on request.
import { identitySchema, type Config, type RouteConfig } from '../config/index.js';
import type { Principal, RequestContext } from './context.js';
import { compileClaimPath, resolveClaim, type ClaimPath } from './claim-path.js';
import { IdentityMemo } from './identity-memo.js';

export type IdentityConfig = Config['identity'];

/** Largest identity header value forwarded, bytes; longer values are omitted, not truncated. */
export const MAX_IDENTITY_VALUE_BYTES = 4 * 1024; // 4 KiB

interface IdentityHeader {
  /** Lower-case header name. */
  readonly name: string;
  readonly path: ClaimPath;
  /** The claim is `scope` or `scp`: the header carries the scopes the policy judged (a list). */
  readonly scope: boolean;
  /**
   * The route's policy reads this claim as a list (its `roles` claim, or a `contains` rule's): a string
   * value goes out only when its elements are the space-separated words the policy judged.
   */
  readonly list: boolean;
}

export interface CompiledMutation {
  /** `forward.authorization: strip`: the forwarder drops the inbound Authorization header. */
  readonly stripAuthorization: boolean;
  /** The route's custom token header (lower-case), removed by mutate when stripping; else null. */
  readonly stripTokenHeader: string | null;
  /** The route's token cookie, removed from Cookie by mutate when stripping and the token came from it; else null. */
  readonly stripTokenCookie: string | null;
  readonly headers: readonly IdentityHeader[];
}

/** The schema's identity defaults (strip `x-auth-`, the four X-Auth-* headers). */
export const DEFAULT_IDENTITY: IdentityConfig = Object.freeze(identitySchema.parse(undefined));

/**
 * Compile a route's forward rules: `forward.identity_headers` if set, else `identity.headers`.
 * Header names are lower-cased; a name repeated in another case keeps its first claim.
 */
export function compileMutation(route: RouteConfig, identity: IdentityConfig = DEFAULT_IDENTITY): CompiledMutation {
  const mapping = route.forward?.identity_headers ?? identity.headers;
  const auth = route.auth;
  const lists = listClaims(auth);
  const seen = new Set<string>();
  const headers: IdentityHeader[] = [];
  for (const [name, claim] of Object.entries(mapping)) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) continue;
    seen.add(lower);
    const path = compileClaimPath(claim);
    // by its keys, so a quoted spelling (`'"scp"'`) is the scope claim too
    const scope = path.segments.length === 1 && (path.segments[0] === 'scope' || path.segments[0] === 'scp');
    headers.push(Object.freeze({ name: lower, path, scope, list: scope || lists.has(pathKey(path)) }));
  }
  const strip = route.forward?.authorization === 'strip';
  const tokenHeader = strip && auth !== undefined && auth !== 'none' ? auth.token_sources?.header?.toLowerCase() ?? null : null;
  const tokenCookie = strip && auth !== undefined && auth !== 'none' ? auth.token_sources?.cookie ?? null : null;
  return Object.freeze({ stripAuthorization: strip, stripTokenHeader: tokenHeader, stripTokenCookie: tokenCookie, headers: Object.freeze(headers) });
}

/** The claims a route's policy reads as space-separated lists: its `roles` claim and its `contains` rules' (by pathKey). */
function listClaims(auth: RouteConfig['auth']): Set<string> {
  const out = new Set<string>();
  if (auth === undefined || auth === 'none') return out;
  if (auth.roles !== undefined) out.add(pathKey(compileClaimPath(auth.roles.claim ?? 'roles')));
  for (const c of auth.claims ?? []) if (c.contains !== undefined) out.add(pathKey(compileClaimPath(c.claim)));
  return out;
}

/** A path by its keys (quoted or not): two spellings of one claim are one list (when unsure, stricter). */
const pathKey = (p: ClaimPath): string => JSON.stringify(p.segments);

/** Anything but HTAB and printable ASCII: the common case passes with one scan. */
const UNUSUAL = /[^\x09\x20-\x7e]/;
/** Forbidden in a header value: CTLs except HTAB (CR, LF and NUL included). */
const BAD_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/;
/**
 * A lone UTF-16 surrogate (a JWT's JSON may write `"\ud800"`): its UTF-8 form is U+FFFD, the bytes
 * of another subject's `alice\ufffd`, so two identities would reach the upstream as one. With the
 * `u` flag a surrogate pair is one code point and only an unpaired half matches.
 */
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * Not allowed in one element of a list value: anything but visible ASCII, and the comma. An element
 * with a space, tab or comma would reach the upstream as two elements (`["x admin"]` read as role
 * `admin` by a reader splitting on whitespace, `["x,admin"]` by one splitting an HTTP list), and
 * non-ASCII brings separators of its own (U+00A0, U+2003; the UTF-8 bytes 0x85 and 0xA0, whitespace
 * to a reader decoding latin1, as Python's `str.split()` does).
 */
const BAD_IN_ELEMENT = /[^\x21-\x2b\x2d-\x7e]/;
/** Not allowed in a space-separated list string (`scope`): as BAD_IN_ELEMENT, the space aside. */
const BAD_IN_LIST = /[^\x20-\x2b\x2d-\x7e]/;

/** SP or HTAB: what an HTTP parser trims from either end of a field value (RFC 9110 §5.5). */
const isOws = (c: number): boolean => c === 0x20 || c === 0x09;

/**
 * A claim as a header value, or null when it must not be forwarded: strings, numbers and
 * booleans as text; arrays as their scalar elements joined with spaces; objects skipped.
 * Values with control characters, a lone surrogate (not well-formed Unicode) or over 4 KiB are omitted. An array with an element holding
 * anything but visible ASCII or holding a comma is omitted, and so is a `list` string (the scope
 * header) with anything but visible ASCII, spaces or no commas: the upstream must read the
 * elements the policy judged, never more. Other non-ASCII text becomes its UTF-8 bytes in a
 * latin1 string, which the upstream client writes byte for byte (a code point above U+00FF could
 * otherwise be truncated to a CR or LF on the wire). A string with a space or tab at either end is
 * omitted too: the upstream's parser would trim it into another value (`" admin@corp"` → `admin@corp`).
 */
export function identityHeaderValue(claim: unknown, list = false): string | null {
  let v: string;
  if (typeof claim === 'string') {
    v = claim;
    if (list) { if (BAD_IN_LIST.test(v)) return null; }
    else if (v !== '' && (isOws(v.charCodeAt(0)) || isOws(v.charCodeAt(v.length - 1)))) return null;
  } else if (typeof claim === 'number') { if (!Number.isFinite(claim)) return null; v = String(claim); }
  else if (typeof claim === 'boolean') v = claim ? 'true' : 'false';
  else if (Array.isArray(claim)) {
    const parts: string[] = [];
    for (const x of claim) {
      if (typeof x === 'string') {
        if (BAD_IN_ELEMENT.test(x)) return null;
        parts.push(x);
      } else if (typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) parts.push(String(x));
    }
    v = parts.join(' ');
  } else return null;
  if (v === '') return null;
  if (UNUSUAL.test(v)) {
    if (BAD_CHARS.test(v) || LONE_SURROGATE.test(v)) return null;
    v = Buffer.from(v, 'utf8').toString('latin1'); // non-ASCII remains
  }
  return v.length > MAX_IDENTITY_VALUE_BYTES ? null : v;
}

/**
 * Append identity headers for the upstream to `out` (flat [name, value…], names lower-case,
 * client copies already removed by isIdentityHeader) and drop the custom token header when
 * the route strips credentials. `m` defaults to the mutation compiled into the route's policy.
 */
export function mutate(ctx: RequestContext, out: string[], m: CompiledMutation | null = mutationOf(ctx)): void {
  if (m === null) return;
  if (m.stripTokenHeader !== null) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (out[i] === m.stripTokenHeader) out.splice(i, 2);
  }
  if (m.stripTokenCookie !== null && ctx.tokenSource === 'cookie') {
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (out[i] !== 'cookie') continue;
      const kept = withoutCookie(out[i + 1]!, m.stripTokenCookie);
      if (kept === '') out.splice(i, 2); else out[i + 1] = kept;
    }
  }
  const p = ctx.principal;
  if (p === null || m.headers.length === 0) return;
  // a cached token's headers on this route are computed once (identity-memo.ts), then copied
  const pairs = identityMemo.pairs(p, m, identityPairs);
  for (let i = 0; i < pairs.length; i++) out.push(pairs[i]!);
}

const identityMemo = new IdentityMemo();
const SCOPE_PATH = compileClaimPath('scope');

/** The identity headers of `p` under `m`, as flat name/value pairs (claims that must not be forwarded left out). */
function identityPairs(p: Principal, m: CompiledMutation): string[] {
  const out: string[] = [];
  // indexed: for…of over the frozen array allocated an iterator result per header (heap sampling, warm path)
  const hs = m.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    let claim: unknown;
    if (h.scope) {
      // the scopes the policy judged, whichever of `scope` and `scp` the header names: the `scope`
      // string as written, else the parsed `scp`; a `scope` of another type (an array) gave the policy
      // no scopes of its own, so it gives the upstream none (before, an `scp` header carried the `scp`
      // claim even beside a `scope` string the policy had judged instead)
      claim = resolveClaim(p.claims, SCOPE_PATH);
      if (typeof claim !== 'string') claim = p.scopes.length > 0 ? p.scopes : undefined;
    } else claim = resolveClaim(p.claims, h.path);
    const value = identityHeaderValue(claim, h.list);
    if (value !== null) out.push(h.name, value);
  }
  return out;
}

/** A Cookie header value without the pairs named `name` (RFC 6265 §4.2.1: `; `-separated). */
function withoutCookie(header: string, name: string): string {
  return header.split(';').filter((pair) => {
    const eq = pair.indexOf('=');
    return (eq === -1 ? pair : pair.slice(0, eq)).trim() !== name;
  }).map((p) => p.trim()).filter((p) => p !== '').join('; ');
}

/**
 * The query string forwarded upstream: without `access_token` parameters when the route strips
 * credentials and the token came from the query (RFC 6750 §2.3), else unchanged.
 */
export function forwardedQuery(ctx: RequestContext): string {
  const q = ctx.query;
  if (q === '' || ctx.tokenSource !== 'query' || mutationOf(ctx)?.stripAuthorization !== true) return q;
  return q.split('&').filter((part) => {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    let decoded = key;
    try { decoded = decodeURIComponent(key.replace(/\+/g, ' ')); } catch { /* keep the raw key */ }
    return decoded !== 'access_token';
  }).join('&');
}

function mutationOf(ctx: RequestContext): CompiledMutation | null {
  const policy = ctx.route.policy as { mutation?: CompiledMutation } | null;
  return policy?.mutation ?? null;
}

/** True when the route drops the inbound Authorization header before forwarding. */
export function stripsAuthorization(ctx: RequestContext): boolean {
  return mutationOf(ctx)?.stripAuthorization === true;
}

/**
 * grpc-gateway's spelling of gRPC metadata: it hands `Grpc-Metadata-<name>` to the service as
 * metadata `<name>` (and drops other headers, the proxy's `X-Auth-*` too, by default), so
 * `grpc-metadata-x-auth-subject` is an identity header as much as `x-auth-subject`.
 */
const GATEWAY_PREFIX = 'grpc-metadata-';
const GATEWAY_LEN = GATEWAY_PREFIX.length;

/** Default filter: names starting with `x-auth-` (or `grpc-metadata-x-auth-`). Prefer compileIdentityFilter for a config. */
export function isIdentityHeader(lowerName: string): boolean {
  return lowerName.startsWith('x-auth-') || (lowerName.startsWith(GATEWAY_PREFIX) && lowerName.startsWith('x-auth-', GATEWAY_LEN));
}

/**
 * The forwarder's filter for client-sent headers, for every route (auth: none included):
 * names starting with a strip prefix, and every header name any route (or the identity
 * defaults) maps a claim to, each also prefixed `grpc-metadata-` (GATEWAY_PREFIX) — otherwise a client could send `X-User` itself on a route that
 * maps `sub` to `X-User` and the upstream would see two values.
 */
export function compileIdentityFilter(identity: IdentityConfig = DEFAULT_IDENTITY, routes: readonly RouteConfig[] = []): (lowerName: string) => boolean {
  const prefixes = identity.strip_prefixes.map((p) => p.toLowerCase());
  const names = new Set(Object.keys(identity.headers).map((n) => n.toLowerCase()));
  for (const r of routes) for (const n of Object.keys(r.forward?.identity_headers ?? {})) names.add(n.toLowerCase());
  for (const n of [...names]) if (prefixes.some((p) => n.startsWith(p))) names.delete(n);
  // each also under grpc-gateway's `grpc-metadata-` spelling (GATEWAY_PREFIX); no allocation unless a name has it
  if (prefixes.length === 1 && names.size === 0) {
    const only = prefixes[0]!;
    return (lowerName) => lowerName.startsWith(only) || (lowerName.startsWith(GATEWAY_PREFIX) && lowerName.startsWith(only, GATEWAY_LEN));
  }
  const plain = (lowerName: string, at: number): boolean => {
    for (let i = 0; i < prefixes.length; i++) if (lowerName.startsWith(prefixes[i]!, at)) return true;
    return names.size !== 0 && names.has(at === 0 ? lowerName : lowerName.slice(at));
  };
  return (lowerName) => plain(lowerName, 0) || (lowerName.startsWith(GATEWAY_PREFIX) && plain(lowerName, GATEWAY_LEN));
}
