// Reading the original request an edge proxy reports to a decision endpoint, per dialect:
// nginx auth_request (X-Original-URI/-Method), Traefik ForwardAuth and Caddy forward_auth
// (X-Forwarded-Method/-Uri/-Host/-Proto), Envoy HTTP ext_authz (method as sent, original
// path appended to the check path's prefix, Host = the original authority).
// Only the raw parts are read here; the listener's normalisation and refusals follow.
import { singleHeader as single } from '../pipeline/index.js';

export type Dialect = 'nginx' | 'traefik' | 'envoy';
export type DialectSetting = Dialect | 'auto';

/** The request the client sent to the edge, as reported (not yet normalised). */
export interface OriginalRequest {
  readonly dialect: Dialect;
  /** Method as reported: an upper-case token (originalMethodError). */
  readonly method: string;
  /** Path as sent, before normalisation; starts with `/`. */
  readonly rawPath: string;
  /** Query without `?`, '' when none. */
  readonly query: string;
  /** Host as sent ('' when the edge reported none). */
  readonly host: string;
  readonly proto: 'http' | 'https';
}

/** The decision call as the listener read it. */
export interface DecisionCall {
  readonly method: string;
  /** The call's own path (uWS getUrl). */
  readonly path: string;
  readonly query: string;
  /** Flat [name, value…], names lower-case. */
  readonly headers: readonly string[];
}

/**
 * Headers of the decision call that describe the original request: removed from the headers
 * the pipeline sees, which otherwise are the client's as the edge copied them.
 */
export const REPORTING_HEADERS: ReadonlySet<string> = new Set([
  'host', 'x-original-uri', 'x-original-method', 'x-original-host', 'x-original-proto',
  'x-forwarded-method', 'x-forwarded-uri', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-prefix',
  'content-length', 'transfer-encoding', 'connection', 'keep-alive',
]);

const METHOD = /^[A-Za-z!#$%&'*+.^_`|~0-9-]{1,32}$/;

/**
 * Null when `method` (as the edge reports it) is a method token in upper case, else why not.
 * Methods are case-sensitive: Go (Traefik, Caddy) and HAProxy forward `get` as sent, and an app
 * routing by exact method runs another handler for it than the GET route that would be judged.
 */
export function originalMethodError(method: string): string | null {
  if (!METHOD.test(method)) return 'original method is not an HTTP method token';
  if (method !== method.toUpperCase()) return 'original method is not in upper case (the app behind the edge would get it as sent, not as the method judged)';
  return null;
}


/**
 * The dialect a call speaks: `setting`, or for auto the one whose URI header it carries; null
 * when none, and for auto when it carries both: Traefik and Caddy copy every client header to
 * the call, so a client-sent X-Original-URI would otherwise pick the nginx dialect and have the
 * call judged on a path the edge never routes.
 */
export function dialectOf(setting: DialectSetting, headers: readonly string[]): Dialect | null {
  if (setting !== 'auto') return setting;
  const original = single(headers, 'x-original-uri') !== undefined;
  const forwarded = single(headers, 'x-forwarded-uri') !== undefined;
  if (original && forwarded) return null;
  if (original) return 'nginx';
  if (forwarded) return 'traefik';
  return null;
}

const BOTH_URIS = 'both X-Original-URI and X-Forwarded-Uri: with dialect auto the call must carry one (an edge copies client headers; set the endpoint\'s dialect to the edge\'s)';

/**
 * The original request of `call` in `setting`'s dialect (`auto`: nginx when X-Original-URI is
 * present, else Traefik/Caddy when X-Forwarded-Uri is), or a message saying what is missing.
 * `prefix`: the endpoint path (Envoy appends the original path to it).
 */
export function readOriginal(setting: DialectSetting, prefix: string, call: DecisionCall): OriginalRequest | string {
  const h = call.headers;
  const dialect = dialectOf(setting, h);
  if (dialect === null) {
    if (setting === 'auto' && single(h, 'x-original-uri') !== undefined) return BOTH_URIS;
    return 'no X-Original-URI (nginx auth_request) or X-Forwarded-Uri (Traefik, Caddy) header';
  }
  let method: string | undefined | null;
  let target: string | undefined | null;
  let host: string | undefined | null;
  let proto: string | undefined | null;
  switch (dialect) {
    case 'nginx':
      method = single(h, 'x-original-method');
      target = single(h, 'x-original-uri');
      host = first(single(h, 'x-original-host'), single(h, 'x-forwarded-host'));
      proto = first(single(h, 'x-original-proto'), single(h, 'x-forwarded-proto'));
      if (method === undefined) return 'no X-Original-Method header';
      if (target === undefined) return 'no X-Original-URI header';
      break;
    case 'traefik':
      method = single(h, 'x-forwarded-method');
      target = single(h, 'x-forwarded-uri');
      host = single(h, 'x-forwarded-host');
      proto = single(h, 'x-forwarded-proto');
      if (method === undefined) return 'no X-Forwarded-Method header';
      if (target === undefined) return 'no X-Forwarded-Uri header';
      break;
    case 'envoy':
      method = call.method;
      target = call.path.slice(prefix.length) + (call.query !== '' ? `?${call.query}` : '');
      host = undefined; // Envoy sends the original authority as the call's Host
      proto = single(h, 'x-forwarded-proto');
      break;
    default: {
      const never: never = dialect;
      return `unknown dialect ${String(never)}`;
    }
  }
  if (method === null || target === null || host === null || proto === null) return 'an original-request header was sent more than once';
  const bad = originalMethodError(method);
  if (bad !== null) return bad;
  // origin-form only: an absolute URI or `*` would let the reported host differ from the routed one
  if (target[0] !== '/') return 'original URI is not an absolute path (origin-form)';
  // `//host/path` is a network-path reference: the edge forwards it as is, and an upstream that
  // resolves it as a URL (`new URL(req.url, base)`, `urlsplit`) reads a host there and another path
  if (target[1] === '/') return 'original URI starts with // (an upstream URL parser reads a host there)';
  // a raw `#` is not cut off as a fragment: the edge forwards the whole target, and an upstream
  // that reads `#` as a path character resolves `/public/x#/../../admin`; the path reader refuses it
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  if (host === undefined) {
    const own = single(h, 'host');
    if (own === null) return 'more than one Host header';
    host = own ?? '';
  }
  let p: 'http' | 'https' = 'http';
  if (proto !== undefined) {
    // a chain of edges appends: the first is the client's
    const v = proto.split(',')[0]!.trim().toLowerCase();
    if (v !== 'http' && v !== 'https') return 'original proto is neither http nor https';
    p = v;
  }
  return { dialect, method, rawPath, query, host, proto: p };
}

function first(a: string | undefined | null, b: string | undefined | null): string | undefined | null {
  return a !== undefined ? a : b;
}
