// A `serve --workers` worker's worker.status pace: the primary's watchdog calls a worker silent 2 s after its last
// message (/readyz 503) and kills it at server.worker_silence_kill_ms, so the pace must hold whatever the wall clock does.
import { describe, expect, it } from 'vitest';
import { STATUS_EVERY_MS, STATUS_LOOK_MS, StatusPace } from '../../../cluster/process/worker-status.js';
import { WATCHDOG_MS } from '../../../cluster/process/worker-watchdog.js';

/** Looks every STATUS_LOOK_MS for `lookMs` of real time; `wall` is the clock the pace reads. Returns the real times a status was sent. */
function run(pace: StatusPace, clock: { wall: number }, lookMs: number, ready: (realMs: number) => boolean, stepBackAt = -1, stepMs = 0): number[] {
  const sent: number[] = [];
  for (let real = 0; real <= lookMs; real += STATUS_LOOK_MS) {
    if (real === stepBackAt) clock.wall -= stepMs;
    if (pace.due(ready(real))) sent.push(real);
    clock.wall += STATUS_LOOK_MS;
  }
  return sent;
}

const longestGap = (sent: number[], end: number): number => Math.max(...[...sent, end].map((t, i, a) => (i === 0 ? t : t - a[i - 1]!)));

describe('StatusPace', () => {
  it('reports at least every 500 ms while nothing changes, and at the first look after a change', () => {
    const clock = { wall: 1_800_000_000_000 };
    const sent = run(new StatusPace(() => clock.wall), clock, 3_000, (real) => real >= 1_210);
    expect(longestGap(sent, 3_000)).toBeLessThanOrEqual(STATUS_EVERY_MS);
    expect(sent).toContain(1_250); // the change, at the next look
    expect(sent.length).toBeLessThanOrEqual(3_000 / STATUS_EVERY_MS + 2); // no message per look
  });

  it('a wall clock stepped back an hour (NTP) does not silence the worker', () => {
    // before: the gap was measured on Date.now(), so after the step `now - reportedAt` stayed negative for an hour —
    // no status: every worker 'silent' (/readyz 503) after 2 s and SIGKILLed by the watchdog after 30 s
    const clock = { wall: 1_800_000_000_000 };
    const sent = run(new StatusPace(() => clock.wall), clock, 5_000, () => true, 1_000, 3_600_000);
    expect(longestGap(sent, 5_000)).toBeLessThan(WATCHDOG_MS.notReadyAfter);
    expect(longestGap(sent, 5_000)).toBeLessThanOrEqual(STATUS_EVERY_MS);
  });
});
