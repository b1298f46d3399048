// The shared introspection cache's counters (introspection-sync-actor.ts) and their flat names
// for /metrics: one member's fills, evictions, leases and lookups, as the actor counts them.
import type { LeaseTable } from './lease-table.js';

/** What the actor counts, one field per event. */
export interface SyncCounters {
  fills_sent: number; fills_received: number; fills_ignored: number; evictions_sent: number; evictions_received: number;
  /** `cache.subject_dropped` published here (an IdP's drop_cache) and taken from peers. */
  subject_drops_sent: number; subject_drops_received: number;
  calls: number; remote_hits: number; lease_waits: number; released_sent: number; owner_slow: number; owner_failovers: number;
  holder_failovers: number; fallback_calls: number; fills_capped: number; fills_refused: number;
  /** An older build's (v1) active answer without `iss` (a fill, a kept result): not taken, the server is asked here. */
  no_iss_v1: number;
  /** Authentic cache messages this build could not read that may have been a drop: the whole local cache went. */
  unreadable: number;
}

/** Flat counters and gauges for /metrics: the actor's counters, the lease table's, and the owners suspected now. */
export function syncStats(c: SyncCounters, leases: LeaseTable, suspected: number): Record<string, number> {
  const l = leases.counters;
  return {
    cluster_cache_fills_sent_total: c.fills_sent,
    cluster_cache_fills_received_total: c.fills_received,
    cluster_cache_fills_ignored_total: c.fills_ignored,
    cluster_cache_fills_capped_total: c.fills_capped,
    cluster_cache_fills_refused_total: c.fills_refused,
    cluster_cache_fills_no_iss_v1_total: c.no_iss_v1,
    cluster_cache_evictions_sent_total: c.evictions_sent,
    cluster_cache_evictions_received_total: c.evictions_received,
    cluster_cache_subject_drops_sent_total: c.subject_drops_sent,
    cluster_cache_subject_drops_received_total: c.subject_drops_received,
    cluster_cache_unreadable_total: c.unreadable,
    cluster_introspection_lease_granted_total: l.granted,
    cluster_introspection_lease_pending_total: l.pending,
    cluster_introspection_lease_cached_total: l.cached,
    cluster_introspection_lease_expired_total: l.expired,
    cluster_introspection_lease_unrecorded_total: l.unrecorded,
    cluster_introspection_leases_active: leases.size,
    cluster_introspection_results_kept: leases.kept,
    cluster_introspection_calls_total: c.calls,
    cluster_introspection_remote_hits_total: c.remote_hits,
    cluster_introspection_lease_waits_total: c.lease_waits,
    cluster_introspection_lease_released_total: c.released_sent,
    cluster_introspection_owner_slow_total: c.owner_slow,
    cluster_introspection_owner_failovers_total: c.owner_failovers,
    cluster_introspection_holder_failovers_total: c.holder_failovers,
    cluster_introspection_fallback_calls_total: c.fallback_calls,
    cluster_introspection_owners_suspected: suspected,
  };
}
