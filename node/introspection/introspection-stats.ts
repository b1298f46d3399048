// The counters one issuer's introspection client keeps (IntrospectionStats), as /metrics reads them, and
// which of them are levels rather than counts (a reload carries counts over, never levels).

/** The keys of IntrospectionStats that are levels, not counts: a reload does not carry them over (introspection-set.ts). */
export const INTROSPECTION_GAUGES: ReadonlySet<keyof IntrospectionStats> = new Set(['cache_entries']);

export interface IntrospectionStats {
  /** Authorization-server calls answered `active: true`. */
  calls_ok: number;
  /** Calls that failed: non-200, bad JSON, timeout, connection error. */
  calls_failed: number;
  /** Calls answered `active: false`. */
  calls_inactive: number;
  /** Lookups that joined a call already in flight for the same token. */
  singleflight_waits: number;
  /** Lookups answered 503 at once: every connection busy and `max_pending` calls already waiting, none of them from a client holding more than this lookup's. */
  calls_queue_full: number;
  /** Answers that arrived after their waiter's timeout (503); they fill the cache unless the token was evicted, or something newer cached, meanwhile. */
  calls_late: number;
  /** Lookups answered 503 at their route's deadline while the call went on (its answer is cached as usual). */
  lookups_deadline: number;
  /** Lookups answered 503 at once: their client already held `per_client_max` places. */
  calls_client_limited: number;
  /** Waiting calls answered 503 to make room in a full queue for a client holding fewer (the newest of the client holding the most). */
  calls_preempted: number;
  /** Lookups answered 503 without a call: the server answered 429 (or 503 with Retry-After) and that wait (1–60 s) has not passed (server-hold.ts). */
  calls_held: number;
  cache_hits: number;
  cache_misses: number;
  cache_entries: number;
  cache_evictions: number;
  latency_ms_sum: number;
  latency_count: number;
}
