// How long an identity-provider event takes from its request's arrival to its revocation being
// applied here and published (acknowledged by the revocation stream): cumulative buckets for
// Prometheus (`portcullis_idp_event_apply_seconds`). Other members' delay after that is
// `portcullis_revocation_propagation_seconds`.

/** Bucket upper bounds, milliseconds. */
export const EVENT_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 1_000, 5_000] as const;

/** Fixed-memory histogram of event handling times. */
export class EventLatency {
  readonly #counts = new Array<number>(EVENT_BUCKETS_MS.length + 1).fill(0);
  #n = 0;
  #sum = 0;

  /** Record one duration in ms. */
  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    let i = 0;
    while (i < EVENT_BUCKETS_MS.length && v > EVENT_BUCKETS_MS[i]!) i++;
    this.#counts[i]!++;
    this.#n++;
    this.#sum += v;
  }

  /** `events_apply_ms_bucket_le_<bound>` (cumulative, `inf` last), `_count`, `_sum`. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    let cum = 0;
    EVENT_BUCKETS_MS.forEach((b, i) => { cum += this.#counts[i]!; out[`events_apply_ms_bucket_le_${b}`] = cum; });
    out.events_apply_ms_bucket_le_inf = this.#n;
    out.events_apply_ms_count = this.#n;
    out.events_apply_ms_sum = this.#sum;
    return out;
  }
}
