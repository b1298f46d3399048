// Routes with a method list whose other methods fall to a route that asks for less (auth: none, or another
// auth block) — a broader one, or one of the same path without a method list: warnings check-config prints
// and start and reload log, until the route or the table says what it means. Probed through the route table.
import { quotedName, type Config, type ConfigProblem } from '../config/index.js';
import { RouteTable } from './route-table.js';

type Route = Config['routes'][number];

/** Methods tried on each route's paths besides those any route lists (an extension method stands for the rest). */
const PROBE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PORTCULLIS-OTHER'];
const PROBE = 'portcullis-probe';

/** A host and path the route matches: parameters and `*` filled with a word no route is likely to name. */
function sample(r: Route): { host: string; path: string } {
  const h = r.match.host?.toLowerCase();
  const host = h === undefined ? '' : h.startsWith('*.') ? `${PROBE}${h.slice(1)}` : h;
  const path = r.match.path.split('/').map((s) => (s === '*' || s.startsWith(':') ? PROBE : s)).join('/');
  return { host, path };
}

/** How `to` asks for less than `from` (which has an auth block); null when it asks for the same. */
function weaker(from: Route, to: Route): string | null {
  if (to.auth === 'none') return 'auth: none';
  return JSON.stringify(to.auth) === JSON.stringify(from.auth) ? null : 'another auth block';
}

/**
 * Each route with `match.methods`, an auth block and no `other_methods: fall_through` whose unlisted
 * methods, on its own host and path, reach a later-ranked route that asks for less: a broader route
 * (not with `other_methods: refuse`, which answers 405), or an `auth: none` route of the same host and
 * path without a method list (`refuse` does not stop that one; listing its methods does). One warning per such pair
 * (empty when none). Only the route's own host (none: requests without a Host match) is tried.
 */
export function methodFallThroughs(cfg: Pick<Config, 'routes'>): ConfigProblem[] {
  const candidates = new Set(cfg.routes.filter((r) => r.match.methods !== undefined && r.other_methods !== 'fall_through' && typeof r.auth === 'object'));
  if (candidates.size === 0) return [];
  const table = new RouteTable(cfg.routes.map((config, index) => ({ index, name: config.name, config, policy: null })));
  const methods = new Set(PROBE_METHODS);
  for (const r of cfg.routes) for (const m of r.match.methods ?? []) methods.add(m.toUpperCase());
  const out: ConfigProblem[] = [];
  cfg.routes.forEach((from, i) => {
    if (!candidates.has(from)) return;
    const { host, path } = sample(from);
    const reached = new Map<number, string[]>();
    const sameShape = new Set<number>();
    for (const p of table.passedOver(methods, host, path)) {
      if (p.from.index !== i) continue;
      const list = reached.get(p.to.index) ?? [];
      list.push(p.method === 'PORTCULLIS-OTHER' ? 'any other' : p.method);
      reached.set(p.to.index, list);
      if (p.sameShape) sameShape.add(p.to.index);
    }
    for (const [j, taken] of reached) {
      const to = cfg.routes[j]!;
      const why = weaker(from, to);
      if (why === null) continue;
      const listed = from.match.methods!.map((m) => m.toUpperCase()).join(', ');
      if (sameShape.has(j)) {
        // a route of the same path with its own auth block guards the other methods (README routing order)
        if (to.auth !== 'none') continue;
        out.push({
          path: `routes[${i}].match.methods`,
          message: `routes[${i}] (${quotedName(from.name)}) lists methods [${listed}]; routes[${j}] (${quotedName(to.name)}, ${why}) has the same path and no method list: ${taken.join(', ')} requests on ${from.match.path} reach it without this route's auth (other_methods: refuse does not stop a route of the same path) — list the methods routes[${j}] is for in its match.methods or, if intended, set other_methods: fall_through on routes[${i}]`,
        });
        continue;
      }
      out.push({
        path: `routes[${i}].match.methods`,
        message: `routes[${i}] (${quotedName(from.name)}) lists methods [${listed}]; other methods on its paths fall to routes[${j}] (${quotedName(to.name)}, ${why}): ${taken.join(', ')} requests on ${from.match.path} reach it without this route's auth — set other_methods: refuse (405 with Allow) or, if intended, other_methods: fall_through`,
      });
    }
  });
  return out;
}

