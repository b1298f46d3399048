// Cross-site use of a cookie token (CSRF, cross-site WebSocket hijacking): a cookie is the one
// credential a browser attaches by itself to a request a page of any other site makes, so such a
// token authorizes a state-changing request only from the route's own origin or a listed one.
import { clientOrigin } from '../dpop/index.js';
import { proxyError } from '../errors.js';
import { singleHeader as single, type RequestContext, type StageResult } from '../pipeline/index.js';

/** The refusal of a cross-site unsafe request authenticated by a cookie (403, deny reason `cross_origin`). */
export const CROSS_ORIGIN: StageResult = Object.freeze({
  kind: 'deny' as const,
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_CROSS_ORIGIN', "a token from a cookie authorizes a state-changing request only from a page of this origin or of the route's cookie_origins")),
  reason: 'cross_origin',
});

const NONE: readonly string[] = Object.freeze([]);

/** Normalised entries (case, default port) per configured list, built once per list. */
const normalised = new WeakMap<readonly string[], ReadonlySet<string>>();

/** `scheme://host[:port]` of an http(s) URL, normalised; null for anything else. */
function originOf(value: string): string | null {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

function listed(origin: string, list: readonly string[]): boolean {
  if (list.length === 0) return false;
  let set = normalised.get(list);
  if (set === undefined) {
    set = new Set(list.map(originOf).filter((x): x is string => x !== null));
    normalised.set(list, set);
  }
  return set.has(origin);
}


/** An Origin header's form (RFC 6454 §7): scheme://host[:port], nothing after it (no path, userinfo, query). */
const SERIALIZED_ORIGIN = /^https?:\/\/[^/?#@\\\s]+$/i;

/** The page origin the Origin header names: undefined absent, null when sent twice, `null`, or not an http(s) origin. */
function pageOrigin(headers: readonly string[]): string | undefined | null {
  const v = single(headers, 'origin');
  if (typeof v !== 'string') return v;
  const t = v.trim();
  return SERIALIZED_ORIGIN.test(t) ? originOf(t) : null;
}

/**
 * May a request with these headers use a cookie token, by its Origin? True without an Origin
 * header (not a browser page); else only when the one Origin is `addressed` (the origin the client
 * addressed) or is in `allowed` or `extra`. `null`, two Origins or a malformed one → false.
 */
export function pageOriginAllowed(headers: readonly string[], addressed: string | null, allowed: readonly string[], extra: readonly string[] = NONE): boolean {
  const o = pageOrigin(headers);
  if (o === undefined) return true;
  if (o === null) return false;
  return o === addressed || listed(o, allowed) || listed(o, extra);
}

/** GET, HEAD and OPTIONS change nothing (RFC 9110 §9.2.1): a cross-site page may send them. */
function safe(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/**
 * May `ctx`, whose token came from a cookie, be authorized (Fetch Metadata, then Origin)? A safe
 * method: yes. Else an Origin that is `null`, repeated or malformed: no; `Sec-Fetch-Site`
 * same-origin or none: yes; any other value of it: only when the Origin is in the route's
 * `cookie_origins`; no Sec-Fetch-Site: the Origin must be the addressed origin (ctx.origin from
 * an edge, else the listener's TLS or a trusted X-Forwarded-Proto with Host or a trusted
 * X-Forwarded-Host) or listed; neither header: yes (not a browser page: nothing to forge).
 */
export function cookieRequestAllowed(ctx: RequestContext, trustForwarded: boolean): boolean {
  if (safe(ctx.method)) return true;
  const h = ctx.headers;
  const o = pageOrigin(h);
  if (o === null) return false;
  const list = ctx.route.config.cookie_origins;
  const site = single(h, 'sec-fetch-site');
  if (site === null) return false;
  if (site !== undefined) {
    const s = site.trim();
    if (s === 'same-origin' || s === 'none') return true;
    // same-site, cross-site or a value no browser sends: only a listed page
    return o !== undefined && listed(o, list);
  }
  if (o === undefined) return true;
  const addressed = ctx.origin !== undefined ? ctx.origin : clientOrigin(h, ctx.secure === true, trustForwarded);
  return o === addressed || listed(o, list);
}
