// The JWT verifier's flat counters for /metrics and /cache/stats that are not its own fields: the pool's
// keys in inline mode (all zero), and the JWKS counters summed over issuers (those a reload retired
// included) and per configured issuer as `jwks.<issuer>.<counter>`. Read on a scrape, never per request.
import type { JwksActor, JwksCounters } from './jwks-actor.js';

/** Pool counters in inline mode (no pool): the same keys, all zero. */
export const NO_POOL: Readonly<Record<string, number>> = Object.freeze({
  pool_size: 0, pool_queue: 0, pool_in_flight: 0, pool_tasks: 0, pool_batches: 0, pool_task_ms_sum: 0,
  pool_failovers: 0, pool_failures: 0, pool_overloaded: 0, pool_preempted: 0, pool_timeouts: 0, pool_stuck_threads: 0, pool_utilization: 0,
});

/**
 * Add to `out` (which holds every JWKS counter key at 0, and `issuers_ready`) the counters of the running
 * `actors` and of the `retired` ones by issuer name, and count the issuers that have a key set.
 */
export function addJwksCounters(out: Record<string, number>, retired: ReadonlyMap<string, JwksCounters>, actors: ReadonlyMap<string, JwksActor>): void {
  const perIssuer = [...retired].map(([name, c]) => ({ name, c })).concat([...actors.values()].map((a) => ({ name: a.name, c: a.counters })));
  for (const { name, c } of perIssuer) {
    for (const k of Object.keys(c) as (keyof JwksCounters)[]) {
      out[k]! += c[k];
      // the same per configured issuer (`jwks.<issuer>.fetch_ok`…, its retired actors' counts included) for metrics labelled by issuer
      if (!actors.has(name)) continue;
      const key = `jwks.${name}.${k.slice('jwks_'.length)}`;
      out[key] = (out[key] ?? 0) + c[k];
    }
  }
  for (const a of actors.values()) {
    if (a.snapshot !== null) out.issuers_ready!++;
  }
}
