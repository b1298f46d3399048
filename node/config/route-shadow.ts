// Routes an earlier route hides: same host, same path shape (parameter names aside) and methods the
// earlier one already takes. The route table breaks such ties by config order (node/routing/route-table.ts),
// so the later route never sees those requests; a config that holds one is refused, naming both routes.
import type { Config } from './schema.js';
import { quotedName } from './shown-value.js';
import type { ConfigProblem } from './problem.js';

interface Seen {
  readonly index: number;
  readonly name: string;
  /** null: the route takes any method (but TRACE/TRACK); else its listed methods, HEAD added to GET as the table does. */
  readonly methods: ReadonlySet<string> | null;
}

/** Host and path as the route table compares them: `:param` names do not matter, literals and `*` do. */
function shapeKey(host: string | undefined, path: string): string {
  return `${host?.toLowerCase() ?? ''} ${path.includes(':') ? path.replace(/\/:[^/]*/g, '/:') : path}`;
}

/** Each route (or listed method of a route) that an earlier route with the same match takes first; empty = none. */
export function shadowedRoutes(cfg: Pick<Config, 'routes'>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const byShape = new Map<string, Seen[]>();
  cfg.routes.forEach((r, i) => {
    if (typeof r?.match?.path !== 'string') return;
    const key = shapeKey(r.match.host, r.match.path);
    const earlier = byShape.get(key);
    const listed = Array.isArray(r.match.methods) ? r.match.methods.map((m) => String(m).toUpperCase()) : null;
    const methods = listed === null ? null : new Set(listed.includes('GET') ? [...listed, 'HEAD'] : listed);
    const seen: Seen = { index: i, name: r.name, methods };
    // most routes have a shape of their own: nothing to compare (a 10 000-route file is checked on every reload)
    if (earlier === undefined) {
      byShape.set(key, [seen]);
      return;
    }
    if (listed === null) {
      // a route with a method list outranks one without, so only an earlier route for any method hides it
      const first = earlier.find((e) => e.methods === null);
      if (first !== undefined) problems.push(problem(i, r.name, first, r.match.path, 'is never matched'));
    } else {
      // which earlier route takes each listed method first (methods:[GET] answers HEAD too)
      const takenBy = new Map<string, Seen>();
      for (const m of listed) {
        const first = earlier.find((e) => e.methods !== null && e.methods.has(m));
        if (first !== undefined) takenBy.set(m, first);
      }
      if (takenBy.size > 0) {
        const first = [...takenBy.values()][0]!;
        const what = takenBy.size === listed.length ? 'is never matched' : `never gets its ${[...takenBy.keys()].join(', ')} requests`;
        problems.push(problem(i, r.name, first, r.match.path, what));
      }
    }
    earlier.push(seen);
  });
  return problems;
}

function problem(i: number, name: string, first: Seen, path: string, what: string): ConfigProblem {
  return {
    path: `routes[${i}].match`,
    message: `route ${quotedName(name)} ${what}: route ${quotedName(first.name)} (routes[${first.index}]) comes first with the same match.host and match.path "${path}" (parameter names aside) and takes those methods — equally specific routes keep config order; remove one, or give them different methods, hosts or paths`,
  };
}
