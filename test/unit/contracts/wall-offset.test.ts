// The clocks' offset a primary hands to the workers it forks (node/contracts/wall-offset.ts): read back in the
// worker's performance.now() domain it is the worker's own wall − performance.now() when no step came between.
import { describe, expect, it } from 'vitest';
import { inheritedWallOffsetMs, WALL_OFFSET_ENV, WallOffsetWatch } from '../../../node/contracts/index.js';

describe('the wall − monotonic offset handed to a worker', () => {
  it('read back in this process\'s performance.now() domain: its own offset, less a step the primary did not see', () => {
    const sys = Number(new WallOffsetWatch().env()[WALL_OFFSET_ENV]);
    const own = Date.now() - performance.now();
    // in minutes: the two readings differ by the clocks' read jitter only
    expect(Math.abs(Math.round((own - inheritedWallOffsetMs({ [WALL_OFFSET_ENV]: String(sys) })) / 60_000))).toBe(0);
    // the primary read the clocks before a step of an hour forward: the worker starts an hour behind its own reading
    expect(Math.round((own - inheritedWallOffsetMs({ [WALL_OFFSET_ENV]: String(sys - 3_600_000) })) / 60_000)).toBe(60);
  });

  it('none, or no number: +Infinity (nothing known; the process learns its own)', () => {
    for (const v of [undefined, '', 'x', 'NaN', 'Infinity']) {
      expect(inheritedWallOffsetMs(v === undefined ? {} : { [WALL_OFFSET_ENV]: v }), String(v)).toBe(Number.POSITIVE_INFINITY);
    }
  });

  it('the primary keeps the least it saw: a later sample never raises it', () => {
    const w = new WallOffsetWatch();
    const first = w.sample();
    expect(w.sample()).toBeLessThanOrEqual(first);
  });
});
