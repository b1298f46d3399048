// The answer to a request no route takes: 400 when the upstream readings of its path disagree,
// 405 with Allow when a route with `other_methods: refuse` has its path, else 404. One wording for
// both listeners and the decision endpoints.
import { proxyError, type ProxyError } from '../errors.js';
import { AMBIGUOUS, type Ambiguous, type MethodRefused } from './route-table.js';

const AMBIGUOUS_ERROR: ProxyError = Object.freeze(proxyError('PORTCULLIS_ERR_PATH_AMBIGUOUS', 'path selects another route when read ignoring case, a trailing /, trailing dots or spaces at a segment edge'));

/** The error for a resolve() answer that selects no route; `method` and `path` as routed (never a query). */
export function routeMiss(m: MethodRefused | Ambiguous | null, method: string, path: string): ProxyError {
  if (m === AMBIGUOUS) return AMBIGUOUS_ERROR;
  if (m === null) return proxyError('PORTCULLIS_ERR_ROUTE_NOT_FOUND', `no route for ${method} ${path}`);
  return proxyError('PORTCULLIS_ERR_ROUTE_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (route ${m.refusedBy} takes ${m.allow})`, { allow: m.allow });
}
