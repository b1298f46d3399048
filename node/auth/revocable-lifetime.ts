// The longest token lifetime a revocation can cover: a revocation without `exp` is dropped after
// `cluster.revocation.max_token_lifetime_s`, so a token living longer would be accepted again once
// it is gone. Each issuer's `max_token_lifetime_s` is capped at that value (in `explain` too: the same verdicts).
import type { Config } from '../config/index.js';

/**
 * `config` with every issuer's `max_token_lifetime_s` at most `revocationLifetimeS` (seconds; null =
 * no revocation checks, `config` unchanged). The same object when no issuer needed a change.
 */
export function withRevocableLifetimes(config: Config, revocationLifetimeS: number | null): Config {
  if (revocationLifetimeS === null) return config;
  let changed = false;
  const issuers: Record<string, Config['issuers'][string]> = {};
  for (const [name, cfg] of Object.entries(config.issuers)) {
    const own = cfg.max_token_lifetime_s;
    if (own !== undefined && own <= revocationLifetimeS) issuers[name] = cfg;
    else { issuers[name] = { ...cfg, max_token_lifetime_s: revocationLifetimeS }; changed = true; }
  }
  return changed ? { ...config, issuers } : config;
}
