// Method-, URL- and host-override headers at a decision endpoint. Proxy mode strips them; behind an
// edge the app gets the client's request as sent, so each one must select the route (and the path)
// that was judged — else the app runs another handler (or host) than the one the verdict was for.
import { METHOD_OVERRIDE_HEADERS, URL_OVERRIDE_HEADERS } from '../config/untrusted-headers.js';
import { proxyError, type ProxyError } from '../errors.js';
import { checkMethodOverride, type RequestContext } from '../pipeline/index.js';
import { routingHost } from '../routing/host-normalize.js';
import { normalizePath } from '../routing/path-normalize.js';
import { routeOf, type RouteTable } from '../routing/route-table.js';

const METHOD_NAMES: ReadonlySet<string> = new Set(METHOD_OVERRIDE_HEADERS);
const URL_NAMES: ReadonlySet<string> = new Set(URL_OVERRIDE_HEADERS);
/** Names an app (Express `trust proxy`, Django, Rails, ASP.NET Core, Azure) reads as the host. */
const HOST_NAMES: ReadonlySet<string> = new Set(['x-forwarded-host', 'x-original-host', 'x-host', 'x-http-host-override']);
const LETTERS = /^[A-Za-z]+$/;

/** 400 PORTCULLIS_ERR_METHOD_OVERRIDE: a method-override header (or `_method` in a URL override's query) names another route's method. */
const METHOD_REFUSED: ProxyError = Object.freeze(proxyError('PORTCULLIS_ERR_METHOD_OVERRIDE',
  'a method-override header (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override) names another method than the one this route was chosen for, or is not one method'));
/** 400 PORTCULLIS_ERR_URL_OVERRIDE: a URL-override header names another path than the judged one. */
const URL_REFUSED: ProxyError = Object.freeze(proxyError('PORTCULLIS_ERR_URL_OVERRIDE',
  'a URL-override header (X-Original-URL, X-Rewrite-URL…) names another path than the original request\'s'));
/** 400 PORTCULLIS_ERR_FORWARDED_HOST: a host-override header (or a `Forwarded` host) names a host that selects another route (or is not one host). */
const HOST_REFUSED: ProxyError = Object.freeze(proxyError('PORTCULLIS_ERR_FORWARDED_HOST',
  'a host-override header (X-Forwarded-Host, X-Original-Host, X-Host, X-HTTP-Host-Override, a Forwarded host=) names a host that selects another route than the judged one (or is not one host)'));

/**
 * Null when every method-, URL- or host-override header in `reported` (lower-case names; `_` read
 * as `-`, as CGI, WSGI and Rack do) selects the judged request: a method of letters only that
 * resolves to `ctx.route` for this host and path; a path (`/…`, not `//…`) that normalises to
 * `ctx.path`, whose query passes the `_method` rule; a host (X-Forwarded-Host, X-Original-Host,
 * X-Host, X-HTTP-Host-Override; empty passes) selecting `ctx.route` for this method and path, as
 * must each `host=` of a `Forwarded` header (RFC 7239; an empty one is refused).
 * Otherwise METHOD_OVERRIDE, URL_OVERRIDE or FORWARDED_HOST (400). `reported`: every header of the call, the dialect's own reports included — a report
 * (nginx's X-Original-URI/-Method, Traefik's X-Forwarded-Uri) names the judged request and passes,
 * while the same name sent by a client through an edge that does not set it (Envoy) is judged.
 * Headers not starting with `x-`/`x_` cost two charCodeAt and a compare; nothing is allocated unless one
 * of these names is present. Never throws.
 */
export function checkOverrideHeaders(table: RouteTable, ctx: RequestContext, reported: readonly string[], allowParams: boolean, maxUrlBytes: number): ProxyError | null {
  const h = reported;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const c1 = name.charCodeAt(1);
    if (name.charCodeAt(0) !== 0x78 /* x */ || (c1 !== 0x2d /* - */ && c1 !== 0x5f /* _ */)) {
      if (name === 'forwarded' && !forwardedHostsSelect(table, ctx, h[i + 1]!)) return HOST_REFUSED;
      continue;
    }
    const key = name.indexOf('_') === -1 ? name : name.replace(/_/g, '-');
    if (METHOD_NAMES.has(key)) {
      if (!selectsRoute(table, ctx, h[i + 1]!)) return METHOD_REFUSED;
    } else if (URL_NAMES.has(key)) {
      const e = checkUrl(table, ctx, h[i + 1]!, allowParams, maxUrlBytes);
      if (e !== null) return e;
    } else if (HOST_NAMES.has(key)) {
      if (!selectsHost(table, ctx, h[i + 1]!)) return HOST_REFUSED;
    }
  }
  return null;
}

/**
 * True when every `host=` of a `Forwarded` value (RFC 7239: elements split by `,`, pairs by `;`,
 * names in any case, a value maybe quoted) selects the judged route: Spring's ForwardedHeaderFilter
 * and other RFC 7239 readers take it as the request's host. A quoted value holding `,` or `;` is
 * split and so refused — no host holds either.
 */
function forwardedHostsSelect(table: RouteTable, ctx: RequestContext, value: string): boolean {
  for (const pair of value.split(/[,;]/)) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== 'host') continue;
    let v = pair.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (v === '' || !selectsHost(table, ctx, v)) return false;
  }
  return true;
}

/** True when `value` is empty (an app falls back to Host) or one host[:port] selecting, for this method and path, the judged route. */
function selectsHost(table: RouteTable, ctx: RequestContext, value: string): boolean {
  if (value.trim() === '') return true;
  const host = routingHost(value);
  if (host === null || host === '') return false;
  if (host === ctx.host) return true;
  const m = table.resolve(ctx.method, host, ctx.path);
  return routeOf(m) === ctx.route;
}

/** True when `method` is the judged one, or letters only and selects, for this host and path, the judged route. */
function selectsRoute(table: RouteTable, ctx: RequestContext, method: string): boolean {
  if (method === ctx.method) return true;
  if (!LETTERS.test(method)) return false;
  const m = table.resolve(method.toUpperCase(), ctx.host, ctx.path);
  return routeOf(m) === ctx.route;
}

/** Null when `value` is an origin-form target whose path normalises to the judged path and whose query passes the `_method` rule. */
function checkUrl(table: RouteTable, ctx: RequestContext, value: string, allowParams: boolean, maxUrlBytes: number): ProxyError | null {
  // an absolute or network-path form (http://host/…, //host/…) is read as another host by URL parsers
  if (value.charCodeAt(0) !== 0x2f /* / */ || value.charCodeAt(1) === 0x2f || value.length > maxUrlBytes || value.includes('#')) return URL_REFUSED;
  const q = value.indexOf('?');
  const path = normalizePath(q === -1 ? value : value.slice(0, q), allowParams);
  if (path === null || path !== ctx.path) return URL_REFUSED;
  if (q !== -1 && checkMethodOverride(table, { ...ctx, query: value.slice(q + 1) }).kind === 'deny') return METHOD_REFUSED;
  return null;
}
