// Rate of the `introspection failed` warning: identical failures (same reason, status and detail)
// are logged at most once per interval, the next line saying how many were left out, so an
// authorization-server outage under many distinct tokens is a few lines, not one per request.
// Left-out failures no later line reports (the outage ended, the memory started over, the client
// closed) are said once the interval has passed, by one shared timer: no failure goes unlogged.

/** Identical failure lines are at most this often, ms: 1 s. */
export const FAILURE_LOG_INTERVAL_MS = 1_000;
/** Distinct failure kinds remembered; past it the memory starts over (each kind then logs once more). */
const MAX_KINDS = 64;

/** Failures of one kind left out and not yet reported by a later line. */
export interface LeftOut { readonly reason: string; readonly status: number | undefined; readonly detail: string | undefined; readonly suppressed: number }

interface Kind { readonly reason: string; readonly status: number | undefined; readonly detail: string | undefined; at: number; suppressed: number }

/** Decides which failure lines are written; `now` is injectable for tests; `leftOut` writes the count no later line carried. */
export class FailureLog {
  readonly #kinds = new Map<string, Kind>();
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number = Date.now, private readonly leftOut: (l: LeftOut) => void = () => {}) {}

  /**
   * Null: leave this line out (counted). Otherwise write it, with `suppressed` = the identical lines
   * left out since the last one written (0 for the first).
   */
  admit(reason: string, status: number | undefined, detail: string | undefined): { suppressed: number } | null {
    const key = `${reason}\u0000${status ?? ''}\u0000${detail ?? ''}`;
    const t = this.now();
    const seen = this.#kinds.get(key);
    if (seen !== undefined && t - seen.at < FAILURE_LOG_INTERVAL_MS) {
      seen.suppressed++;
      this.#timer ??= this.#schedule(seen.at + FAILURE_LOG_INTERVAL_MS - t);
      return null;
    }
    if (seen === undefined && this.#kinds.size >= MAX_KINDS) { this.flush(); this.#kinds.clear(); }
    this.#kinds.set(key, { reason, status, detail, at: t, suppressed: 0 });
    return { suppressed: seen?.suppressed ?? 0 };
  }

  /** Report every count still left out now (closing, or the memory starting over); stops the timer. */
  flush(): void {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    for (const k of this.#kinds.values()) if (k.suppressed > 0) this.#report(k, this.now());
  }

  /** The timer: report the kinds whose interval has passed with failures left out; wait again for the others. */
  #due(): void {
    this.#timer = null;
    const t = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const k of this.#kinds.values()) {
      if (k.suppressed === 0) continue;
      if (t - k.at >= FAILURE_LOG_INTERVAL_MS) this.#report(k, t);
      else next = Math.min(next, k.at + FAILURE_LOG_INTERVAL_MS - t);
    }
    if (Number.isFinite(next)) this.#timer = this.#schedule(next);
  }

  /** The report counts as this kind's line of the interval: the next identical failure within it is left out too. */
  #report(k: Kind, t: number): void {
    const { reason, status, detail, suppressed } = k;
    k.at = t;
    k.suppressed = 0;
    try { this.leftOut({ reason, status, detail, suppressed }); } catch { /* a log hook must not break lookups */ }
  }

  #schedule(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.#due(), Math.max(0, ms));
    timer.unref();
    return timer;
  }
}
