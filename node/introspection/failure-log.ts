// Rate of the `introspection failed` warning: identical failures (same reason, status and detail)
// are logged at most once per interval, the next line saying how many were left out, so an
// authorization-server outage under many distinct tokens is a few lines, not one per request.

/** Identical failure lines are at most this often, ms: 1 s. */
export const FAILURE_LOG_INTERVAL_MS = 1_000;
/** Distinct failure kinds remembered; past it the memory starts over (each kind then logs once more). */
const MAX_KINDS = 64;

/** Decides which failure lines are written; `now` is injectable for tests. */
export class FailureLog {
  readonly #kinds = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Null: leave this line out (counted). Otherwise write it, with `suppressed` = the identical lines
   * left out since the last one written (0 for the first).
   */
  admit(reason: string, status: number | undefined, detail: string | undefined): { suppressed: number } | null {
    const key = `${reason}\u0000${status ?? ''}\u0000${detail ?? ''}`;
    const t = this.now();
    const seen = this.#kinds.get(key);
    if (seen !== undefined && t - seen.at < FAILURE_LOG_INTERVAL_MS) { seen.suppressed++; return null; }
    if (seen === undefined && this.#kinds.size >= MAX_KINDS) this.#kinds.clear();
    this.#kinds.set(key, { at: t, suppressed: 0 });
    return { suppressed: seen?.suppressed ?? 0 };
  }
}
