// The instance's own component metrics at scrape time: upstream pools, the auth layer and each
// issuer's readiness, service-to-service tokens, the cluster member's figures and process memory.
import type { Auth } from './auth/index.js';
import type { ClusterStatus } from './contracts/index.js';
import type { S2sLayer } from './s2s/index.js';
import type { RetiredCounters } from './retired-counters.js';
import { addUpstreamStats, type UpstreamPool } from './upstream/upstream-pool.js';

/** Flat counters and gauges (names as /metrics groups them: `auth.`, `issuer.`, `cluster.`, `process.`). */
/** `retiredPools`: by upstream name, the counters of the pools reloads replaced (they stay in the sums). */
export function instanceStats(upstreams: ReadonlyMap<string, UpstreamPool>, auth: Auth, s2s: S2sLayer, cluster: ClusterStatus | null | undefined,
  retiredPools: ReadonlyMap<string, RetiredCounters<Record<string, number>>> = new Map()): Record<string, number> {
  const out: Record<string, number> = {};
  addUpstreamStats(out, upstreams, retiredPools);
  for (const [k, v] of Object.entries(auth.stats())) out[k.includes('.') ? k : `auth.${k}`] = v;
  // per issuer, what /readyz waits for: its keys, and its introspection endpoint when it has one
  for (const [name, r] of Object.entries(auth.readiness())) {
    out[`issuer.${name}_keys_ready`] = r.keys ? 1 : 0;
    if (r.introspection !== null) out[`issuer.${name}_introspection_ready`] = r.introspection ? 1 : 0;
  }
  Object.assign(out, s2s.stats());
  if (cluster != null) for (const [k, v] of Object.entries(cluster.stats())) out[`cluster.${k}`] = v;
  // memory at scrape time (summed over workers by the primary): to see a cache fill or a leak
  const m = process.memoryUsage();
  out['process.rss_bytes'] = m.rss;
  out['process.heap_used_bytes'] = m.heapUsed;
  out['process.heap_total_bytes'] = m.heapTotal;
  out['process.external_bytes'] = m.external;
  return out;
}
