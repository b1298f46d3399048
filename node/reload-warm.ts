// Warming the reload path at start for an instance whose policy comes from the cluster (pushed
// versions arrive while it serves): the start config prepared again and discarded a few times
// before the listener binds, so that the first versions' prepare step (auth, s2s, route policies,
// route table) does not run in V8's unoptimised tiers — ~6 ms instead of ~0.3 ms for the first
// pushes of a 101-route policy (bench/micro/policy-warm.bench.mjs).
import type { Config } from './config/index.js';

/** Rounds of warmReload, and the time they may take at most, ms (a large config does fewer). */
export const WARM_RELOAD_ROUNDS = 20;
export const WARM_RELOAD_BUDGET_MS = 200;
/** Configs with more routes are not warmed (a round would take most of a second; their apply is dominated by work, not by warm-up). */
export const WARM_RELOAD_MAX_ROUTES = 2_000;

/** What warmReload needs of the instance: reload step 1 and its release (a refused reload's path). */
export interface ReloadPreparer<P> {
  prepareYielding(config: Config, policy: { version: number; digest: string } | null, environmentChecked: boolean): Promise<{ ok: true; prepared: P } | { ok: false }>;
  discard(p: P): void;
}

/**
 * Prepare `config` (the running one) twice, then up to `rounds` times while `budgetMs` lasts (none past
 * WARM_RELOAD_MAX_ROUTES), discarding each: nothing
 * is committed, nothing created survives (upstream pools and JWKS actors are reused for an
 * unchanged config, and discard releases anything else). Returns the rounds done; stops at the
 * first refusal (the running config stays what it is either way).
 */
export async function warmReload<P>(inst: ReloadPreparer<P>, config: Config, policy: { version: number; digest: string } | null, rounds = WARM_RELOAD_ROUNDS, budgetMs = WARM_RELOAD_BUDGET_MS): Promise<number> {
  if (config.routes.length > WARM_RELOAD_MAX_ROUTES) return 0;
  const until = performance.now() + budgetMs;
  let done = 0;
  let last = 0; // the last round's duration (not the first's: that one runs cold, several times slower): a round that would end past the budget is not started
  // two rounds at least (the second one is warm and cheap), then while the budget lasts
  while (done < rounds && (done < 2 || performance.now() + last < until)) {
    const t0 = performance.now();
    const p = await inst.prepareYielding(config, policy, true);
    if (!p.ok) break;
    inst.discard(p.prepared);
    if (done > 0) last = performance.now() - t0;
    done++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return done;
}
