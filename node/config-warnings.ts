// Everything a valid config does that an operator should hear about, as warnings (not errors): credentials over plain http, unlisted
// methods that fall to a weaker route, routes taking every issuer while another keeps one to itself, one issuer's subjects mistakable
// for another's, h2c beside a TLS listener. check-config prints them; serve logs them at start and after each reload, once per process group.
import { cleartextBesideTls, issuerlessIdentity, plainHttpCredentials, unscopedEventSources, unscopedRouteIssuers, type Config, type ConfigProblem } from './config/index.js';
import { methodFallThroughs } from './routing/method-fall-through.js';

/** The warnings of a validated config, each with its path (empty when none). */
export function configWarnings(cfg: Config): ConfigProblem[] {
  return [...plainHttpCredentials(cfg), ...methodFallThroughs(cfg), ...unscopedRouteIssuers(cfg), ...unscopedEventSources(cfg), ...issuerlessIdentity(cfg), ...cleartextBesideTls(cfg)];
}

/**
 * Log the warnings of `cfg` at warn level, each with its path. With `serve --workers`, worker 0 alone
 * (PORTCULLIS_WORKER_INDEX, set by the supervisor): every worker applies the same config, and one line
 * per worker said the same thing N times.
 */
export function logConfigWarnings(logger: { warn(fields: object, msg: string): void }, cfg: Config, workerIndex = process.env.PORTCULLIS_WORKER_INDEX): void {
  if (workerIndex !== undefined && workerIndex !== '0') return;
  for (const w of configWarnings(cfg)) logger.warn({ path: w.path }, w.message);
}
