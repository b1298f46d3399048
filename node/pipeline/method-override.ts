// Method overrides in the query: `?_method=DELETE` makes Spring (HiddenHttpMethodFilter),
// Symfony/Laravel and Express's method-override run another handler than the request line's
// method. Allowed only when that method selects the same route; refused before any token check.
import { proxyError } from '../errors.js';
import { routeOf, type RouteTable } from '../routing/route-table.js';
import { CONTINUE, type RequestContext, type StageResult } from './context.js';

/** The denial: 400 PORTCULLIS_ERR_METHOD_OVERRIDE, deny reason `method_override`. */
export const METHOD_OVERRIDE_REFUSED: StageResult = Object.freeze({
  kind: 'deny' as const,
  error: Object.freeze(proxyError('PORTCULLIS_ERR_METHOD_OVERRIDE', 'the query names another method (_method) than the one this route was chosen for')),
  reason: 'method_override',
});

const NAME = '_method';
const LETTERS = /^[A-Za-z]+$/;

/** A query part's name or value decoded as application/x-www-form-urlencoded; null when it is not valid percent-encoding. */
function formDecode(s: string): string | null {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s;
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return null; }
}

/** `_method`, or `_method[…]` (Express's qs reads `_method[]=DELETE` as ['DELETE'] and method-override takes its first). */
function isOverrideName(key: string): boolean {
  return key === NAME || (key.length > NAME.length && key.startsWith(NAME) && key.charCodeAt(NAME.length) === 0x5b /* [ */);
}

/**
 * Every `_method` value in `query` must be a method of letters only that selects, for this
 * host and path, the route the request itself selected (`ctx.route`); otherwise the request
 * is refused (METHOD_OVERRIDE_REFUSED). Parts are split at `&` and `;`; names are
 * percent-decoded (`%5Fmethod`). A query without `_method` or any `%` costs one or two
 * indexOf and allocates nothing; any other is read in one linear pass. Never throws.
 */
export function checkMethodOverride(table: RouteTable, ctx: RequestContext): StageResult {
  const q = ctx.query;
  if (q.indexOf(NAME) === -1 && q.indexOf('%') === -1) return CONTINUE;
  let start = 0;
  while (start <= q.length) {
    // one pass over the part: its end, its first `=` and whether its name holds an escape (linear in the query)
    let end = start;
    let eq = -1;
    let escaped = false;
    for (; end < q.length; end++) {
      const c = q.charCodeAt(end);
      if (c === 0x26 /* & */ || c === 0x3b /* ; */) break;
      if (eq === -1) { if (c === 0x3d /* = */) eq = end; else if (c === 0x25 /* % */) escaped = true; }
    }
    if (eq === -1) eq = end;
    // only names that start with `_method` or hold an escape can read as it: nothing sliced for the rest
    if (escaped || q.startsWith(NAME, start)) {
      const key = formDecode(q.slice(start, eq));
      if (key !== null && isOverrideName(key)) {
        const value = eq === end ? '' : formDecode(q.slice(eq + 1, end));
        if (value === null || !LETTERS.test(value)) return METHOD_OVERRIDE_REFUSED;
        const m = table.resolve(value.toUpperCase(), ctx.host, ctx.path);
        if (routeOf(m) !== ctx.route) return METHOD_OVERRIDE_REFUSED;
      }
    }
    start = end + 1;
  }
  return CONTINUE;
}
