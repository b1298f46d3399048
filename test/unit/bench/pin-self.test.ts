// bench/processes.ts pinSelf on this real process (vitest runs each file in its own forked process, the test on
// its main thread): `mainOnly` pins the main thread and leaves V8's helper threads free, the default pins every thread,
// and the returned function gives every thread its previous CPUs back. Reads /proc/self/task/*/status.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, it, expect, afterEach } from 'vitest';
import { pinSelf } from '../../../bench/processes.js';

/** Cpus_allowed_list of every thread of this process, main thread first. */
function allowed(): { main: string; others: string[] } {
  const read = (tid: string): string => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1]!;
  const tids = readdirSync('/proc/self/task');
  return { main: read(String(process.pid)), others: tids.filter((t) => t !== String(process.pid)).map(read) };
}

/** The test needs a second CPU to tell "pinned to 0" from "every CPU": it fails, naming that, on one. */
function needsTwoCpus(): void {
  expect(availableParallelism(), 'pinSelf tests need ≥ 2 CPUs (and taskset from util-linux)').toBeGreaterThanOrEqual(2);
}
let restore = (): void => {};
afterEach(() => { restore(); restore = (): void => {}; });

describe('pinSelf (needs ≥ 2 CPUs and taskset)', () => {
  it('mainOnly pins the main thread and leaves the helper threads on every CPU they had', () => {
    needsTwoCpus();
    const before = allowed();
    expect(before.others.length).toBeGreaterThan(0);
    restore = pinSelf([0], true);
    const pinned = allowed();
    expect(pinned.main).toBe('0');
    expect(pinned.others).toEqual(before.others);
    expect(pinned.others.some((c) => c !== '0')).toBe(true);
  });

  it('by default pins every thread, and restoring gives each its previous CPUs back', () => {
    needsTwoCpus();
    const before = allowed();
    restore = pinSelf([0]);
    const pinned = allowed();
    expect(pinned.main).toBe('0');
    expect(pinned.others.every((c) => c === '0')).toBe(true);
    restore();
    restore = (): void => {};
    expect(allowed().main).toBe(before.main);
    expect(allowed().others.every((c) => c === before.main)).toBe(true);
  });
});
