// What an upstream's 401 `invalid_token` (RFC 6750 §3.1) does to a token this layer attached:
// the shared rate limit of the drops it causes and the counters every token source keeps.

/**
 * A refused token is dropped at most once per credential per this long, ms: an upstream that
 * answers 401 to every token (broken, or hostile) costs one token-endpoint call per credential per
 * 5 s, never one per request. A refusal inside the window keeps the token (and is counted `throttled`).
 */
export const REFUSAL_COOLDOWN_MS = 5_000; // 5 s

/** What a refusal did: dropped the token; found it already replaced; kept it (cool-down). */
export type RefusalOutcome = 'evicted' | 'replaced' | 'throttled';

/** Counters of refusals: `evicted` dropped the token; `replaced` found a newer one already; `throttled` kept it (cool-down); `retried` sent the request again. */
export class RefusalStats {
  evicted = 0;
  replaced = 0;
  throttled = 0;
  retried = 0;

  /** Count one refusal's outcome; `again` = another token is (or will be) there. Returns `again`. */
  note(outcome: RefusalOutcome, retrying: boolean): boolean {
    this[outcome]++;
    const again = outcome !== 'throttled';
    if (again && retrying) this.retried++;
    return again;
  }

  /** Flat counters (`upstream_refusals_<outcome>`). */
  stats(): Record<string, number> {
    return {
      upstream_refusals_evicted: this.evicted, upstream_refusals_replaced: this.replaced,
      upstream_refusals_throttled: this.throttled, upstream_refusals_retried: this.retried,
    };
  }
}
