// File reloads (SIGHUP, `--watch`, POST /reload) this process decided, applied or refused, for /metrics:
// a refused reload leaves the old config serving, so an operator needs a series to alert on; and how long
// `--watch` has been holding a change back for a writer (node/config/watch-hold.ts).
import { watchHold } from '../../node/config/index.js';

/** Counts of one process's file reloads; the single process or the `--workers` primary owns one. */
export class ReloadCounts {
  private applied = 0;
  private refused = 0;
  private lastOk = true;

  /** One reload decided: `ok` = committed everywhere. */
  note(ok: boolean): void {
    if (ok) this.applied++; else this.refused++;
    this.lastOk = ok;
  }

  /** Component values (node/metrics/component-families.ts maps them): the last one is 1 before any reload. */
  values(): Record<string, number> {
    return { 'config.reloads_applied': this.applied, 'config.reloads_refused': this.refused, 'config.last_reload_successful': this.lastOk ? 1 : 0, ...watchHold.values() };
  }
}
