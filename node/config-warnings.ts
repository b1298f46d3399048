// Everything a valid config does that an operator should hear about, as warnings (not errors): credentials over plain http, unlisted
// methods that fall to a weaker route, routes taking every issuer while another keeps one to itself, one issuer's subjects mistakable
// for another's, h2c beside a TLS listener; serve adds a cache_bytes its own V8 heap cannot hold. check-config prints them; serve logs
// them at start and after each applied reload, once per process group.
import { getHeapStatistics } from 'node:v8';
import { heapBoundedCacheBytes } from './cache-heap-bound.js';
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
/** What the byte bound counts for a cached token with typical claims (README "Tokens and policy"). */
const TYPICAL_ENTRY_BYTES = 613;

export function logConfigWarnings(logger: { warn(fields: object, msg: string): void }, cfg: Config, workerIndex = process.env.PORTCULLIS_WORKER_INDEX): void {
  if (workerIndex !== undefined && workerIndex !== '0') return;
  for (const w of configWarnings(cfg)) logger.warn({ path: w.path }, w.message);
  const bytes = cfg.verifier.cache_bytes;
  const bound = heapBoundedCacheBytes(bytes);
  if (bound < bytes) {
    logger.warn({ path: 'verifier.cache_bytes', configured: bytes, bound, heap_limit: getHeapStatistics().heap_size_limit },
      `verifier.cache_bytes is more than this process's V8 heap can hold beside the proxy (half of --max-old-space-size less 16 MiB): each token cache is held to ${bound} bytes (~${Math.floor(bound / TYPICAL_ENTRY_BYTES)} tokens of typical claims, cache_entries allows ${cfg.verifier.cache_entries}), so it evicts before the heap runs out — but while more distinct tokens are in use than that, each is evicted before it comes back and the hit ratio falls toward 0 (every request verified or introspected again); raise the heap limit or lower cache_bytes`);
  }
}
