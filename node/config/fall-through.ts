// The `other_methods` key's own rule (it needs match.methods). What the key answers — warnings for
// unlisted methods that fall to a weaker route — is node/routing/method-fall-through.ts.
import type { Config } from './schema.js';
import type { ConfigProblem } from './problem.js';

/** `other_methods` on a route without `match.methods` (it takes every method: there is nothing other). */
export function otherMethodsProblems(cfg: Pick<Config, 'routes'>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  cfg.routes.forEach((r, i) => {
    if (r.other_methods !== undefined && r.match?.methods === undefined) {
      out.push({ path: `routes[${i}].other_methods`, message: 'needs match.methods: a route without a method list takes every method, so there are no other methods' });
    }
  });
  return out;
}
