// Everything a valid config does that an operator should hear about, as warnings (not errors): credentials
// over plain http (plain-http-credentials.ts) and unlisted methods that fall to a weaker route (fall-through.ts).
// check-config prints them; serve logs them at start and after each applied reload.
import type { Config } from './schema.js';
import type { ConfigProblem } from './problem.js';
import { plainHttpCredentials } from './plain-http-credentials.js';
import { methodFallThroughs } from './fall-through.js';

/** The warnings of a validated config, each with its path (empty when none). */
export function configWarnings(cfg: Config): ConfigProblem[] {
  return [...plainHttpCredentials(cfg), ...methodFallThroughs(cfg)];
}
