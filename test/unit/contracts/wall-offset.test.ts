// The clocks' offset a primary hands to the workers it forks (node/contracts/wall-offset.ts): read back in the
// worker's performance.now() domain it is the worker's own wall − performance.now() when no step came between.
import { describe, expect, it } from 'vitest';
import { inheritedWallOffsetMs, WALL_OFFSET_ENV, WallOffsetWatch } from '../../../node/contracts/index.js';

describe('the wall − monotonic offset handed to a worker', () => {
  it('read back in this process\'s performance.now() domain: its own offset (no step between)', () => {
    const env = new WallOffsetWatch().env();
    const got = inheritedWallOffsetMs(env);
    expect(Math.abs(got - (Date.now() - performance.now()))).toBeLessThan(50);
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
