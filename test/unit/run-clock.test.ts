// node/run-clock.ts: one clock reading per run, fresh reads outside every run.
import { describe, expect, it } from 'vitest';
import { enterRun, leaveRun, runNow } from '../../node/run-clock.js';

/** Busy-wait until performance.now() has moved past `t` (a reading must differ from a later one). */
function after(t: number): void {
  while (performance.now() <= t) { /* spin: sub-millisecond */ }
}

describe('run clock', () => {
  it('inside a run every caller gets the first reading; a new run takes a new one', () => {
    enterRun();
    let first: number;
    try {
      first = runNow();
      after(first);
      expect(runNow()).toBe(first);
    } finally { leaveRun(); }
    enterRun();
    try { expect(runNow()).toBeGreaterThan(first); } finally { leaveRun(); }
  });

  it('outside every run each call reads the clock', () => {
    const a = runNow();
    after(a);
    expect(runNow()).toBeGreaterThan(a);
  });

  it('a nested run shares the outer reading, and the outer run ends with its own leave', () => {
    enterRun();
    let outer: number;
    try {
      outer = runNow();
      enterRun();
      try { after(outer); expect(runNow()).toBe(outer); } finally { leaveRun(); }
      expect(runNow()).toBe(outer);
    } finally { leaveRun(); }
    after(outer);
    expect(runNow()).toBeGreaterThan(outer);
  });
});
