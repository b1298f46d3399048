// The node:cluster primary's restart policy under a wall clock that NTP steps: a worker's stable run (which restarts
// its slot's failure count, the backoff and the /healthz "cannot be restored" verdict) is a duration, not two dates.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exitDelayMs, markReady, RESTART_BACKOFF_MS, slotHealth, STABLE_RUN_MS, UNRESTORABLE_AFTER, type Slot } from '../../../cluster/process/worker-slots.js';

const slot = (failures: number): Slot => ({ index: 0, worker: null, ready: false, judging: false, issuers: null, failures, readyAt: 0, lastExit: 'exit code 1' });

/** The worker in `s` reports ready, runs `runMs` (the wall clock stepped by `stepMs` meanwhile) and exits: its restart delay. */
function runThenExit(s: Slot, runMs: number, stepMs: number): number {
  markReady(s);
  vi.advanceTimersByTime(runMs);
  vi.setSystemTime(Date.now() + stepMs);
  s.ready = false;
  return exitDelayMs(s, true);
}

describe('worker restart policy under a stepped wall clock', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout'] }); }); // setSystemTime steps Date only
  afterEach(() => { vi.useRealTimers(); });

  it('a worker that ran stable for minutes restarts at once even if the clock was stepped back meanwhile (regression)', () => {
    // four exits in a row before; this worker then ran 2 min, during which NTP stepped the clock back an hour
    const s = slot(UNRESTORABLE_AFTER - 1);
    // before: now - readyAt was negative, so the run did not count — backoff kept growing and the next exit
    // made /healthz answer 503 "could not be restored": an orchestrator replaced a healthy instance
    expect(runThenExit(s, 120_000, -3_600_000)).toBe(RESTART_BACKOFF_MS.initial);
    expect(s.failures).toBe(1);
    expect(slotHealth([s]).ok).toBe(true);
  });

  it('a worker crash-looping a second after ready is not excused by a clock stepped forward (regression)', () => {
    const s = slot(3);
    // before: the hour's step counted as a stable run — the count restarted at 0 and the crash loop restarted at 100 ms
    expect(runThenExit(s, 1_000, 3_600_000)).toBe(RESTART_BACKOFF_MS.initial * 2 ** 3);
    expect(s.failures).toBe(4);
  });

  it('without a step a run of STABLE_RUN_MS restarts the count, a shorter one does not', () => {
    const s = slot(3);
    expect(runThenExit(s, STABLE_RUN_MS, 0)).toBe(RESTART_BACKOFF_MS.initial);
    expect(runThenExit(s, STABLE_RUN_MS - 1, 0)).toBe(RESTART_BACKOFF_MS.initial * 2);
  });
});
