// The policy watcher's counters and their component metrics (`policy.version`, `policy.applies`,
// `policy.refusals.<reason>`, `policy.ignored.<reason>`…), exported through node/metrics' family table.
import type { EntryRefusal } from './policy-messages.js';
import type { RefusalReason } from './policy-watcher-contract.js';

/** What a watcher counts: versions applied, refused (by reason), entries ignored (by reason), the last propagation. */
export interface PolicyCounters {
  applies: number;
  readonly ignored: Partial<Record<EntryRefusal | 'not_newer', number>>;
  readonly refusals: Partial<Record<RefusalReason, number>>;
  propagationMs: number;
  appliedAt: number;
}

/** The metrics of a watcher running `version` (0: none), `from` where it came, with its store's push conflicts. */
export function policyStats(c: PolicyCounters, version: number, latestSeen: number, degraded: boolean, store: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {
    'policy.version': version,
    'policy.latest_seen': latestSeen,
    'policy.applies': c.applies,
    'policy.propagation_ms': c.propagationMs,
    'policy.degraded': degraded ? 1 : 0, 'policy.push_conflicts.sequence': 0, 'policy.push_conflicts.duplicate': 0, ...store,
  };
  for (const r of ['invalid', 'environment', 'apply'] as const) out[`policy.refusals.${r}`] = c.refusals[r] ?? 0;
  for (const r of ['unsigned', 'bad_mac', 'unknown_key', 'stale', 'corrupt', 'digest_mismatch', 'not_newer'] as const) out[`policy.ignored.${r}`] = c.ignored[r] ?? 0;
  return out;
}
