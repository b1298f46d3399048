// The original request an edge reported, put through the listener's own limits, normalisation
// and routing, as a RequestContext for the pipeline — one step shared by the HTTP decision
// endpoints and the gRPC ext_authz Check, so neither can be bypassed by spelling.
import { requestOrigin } from '../dpop/index.js';
import { proxyError, type ProxyError } from '../errors.js';
import type { RequestContext, Snapshot } from '../pipeline/index.js';
import { routingHost } from '../routing/host-normalize.js';
import { normalizePath } from '../routing/path-normalize.js';
import { AMBIGUOUS } from '../routing/route-table.js';
import { routeMiss } from '../routing/route-miss.js';
import type { OriginalRequest } from './original-request.js';
import { checkOverrideHeaders } from './override-headers.js';

/**
 * The context of `orig`, or the refusal proxy mode would have answered it with (414, 400, 404), or
 * 400 when a method- or URL-override header the app behind the edge would obey selects another
 * route or path than the judged one (override-headers.ts; proxy mode strips those headers).
 * `headers`: the client's headers as the edge copied them, without the reporting ones and without
 * Host (the original Host is appended here). `remote`: the address the pipeline sees as the client.
 * `reported`: every header of the call as the edge sent it (reports included), for the override check.
 * `client`: the client the edge named in X-Forwarded-For (server.trust_forwarded), logged with `remote` as the peer; undefined: `remote` is it.
 */
export function originalContext(orig: OriginalRequest, headers: string[], remote: string, snap: Snapshot, reported: readonly string[], client?: string): RequestContext | ProxyError {
  const limits = snap.config.server.limits;
  if (orig.rawPath.length + orig.query.length > limits.max_url_bytes) {
    return proxyError('PORTCULLIS_ERR_URL_TOO_LONG', `original request target exceeds ${limits.max_url_bytes} bytes`);
  }
  const allowParams = snap.config.server.paths.allow_params;
  const path = normalizePath(orig.rawPath, allowParams);
  if (path === null) {
    const why = !allowParams && orig.rawPath.includes(';') ? 'path parameters (;) are not accepted (server.paths.allow_params)' : 'original path is ambiguous or invalid after normalisation';
    return proxyError('PORTCULLIS_ERR_PATH_AMBIGUOUS', why);
  }
  const host = orig.host === '' ? '' : routingHost(orig.host);
  if (host === null) return proxyError('PORTCULLIS_ERR_REQUEST_MALFORMED', 'invalid original Host');
  const match = snap.table.resolve(orig.method, host, path);
  if (match === AMBIGUOUS || match === null || !('route' in match)) return routeMiss(match, orig.method, path);
  if (orig.host !== '') headers.push('host', orig.host);
  const ctx: RequestContext = {
    method: orig.method, path, query: orig.query, host, headers, remoteAddress: remote, ...(client === undefined ? {} : { client }), secure: orig.proto === 'https', connection: null,
    route: match.route, params: match.params, token: null, tokenSource: null, tokenScheme: 'bearer', principal: null, denyReason: null, responseHeaders: null,
    // DPoP htu/htm are checked against the original request
    origin: orig.host === '' ? null : requestOrigin(orig.proto, orig.host),
  };
  return checkOverrideHeaders(snap.table, ctx, reported, allowParams, limits.max_url_bytes) ?? ctx;
}
