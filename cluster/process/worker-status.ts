// When a `serve --workers` worker sends worker.status to its primary: every STATUS_EVERY_MS (the
// primary's watchdog hears its loop turn by these) and within STATUS_LOOK_MS of a readiness change.

/** Longest gap between two worker.status messages, ms: the watchdog calls a worker silent after 2 s. */
export const STATUS_EVERY_MS = 500;
/** How often a worker looks whether its readiness changed, ms (at most one message per look). */
export const STATUS_LOOK_MS = 50;

/** Paces one worker's worker.status messages. */
export class StatusPace {
  #reported: boolean | null = null;
  #at = 0;

  /**
   * `now`: the clock the gap is measured on, ms — monotonic by default. A clock that went back counts as a gap due:
   * measured on a wall clock stepped back (NTP), a worker sent nothing for the size of the step, so the watchdog
   * called every worker silent (/readyz 503 after 2 s) and killed them at server.worker_silence_kill_ms.
   */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Is a worker.status with readiness `ready` due now (changed, or STATUS_EVERY_MS since the last)? Counts it sent when true. */
  due(ready: boolean): boolean {
    const t = this.now();
    const since = t - this.#at;
    if (ready === this.#reported && since >= 0 && since < STATUS_EVERY_MS) return false;
    this.#reported = ready;
    this.#at = t;
    return true;
  }
}
