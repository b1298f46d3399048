// PolicyHold: when auth routes wait for the cluster policy (cluster/policy/policy-hold.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PolicyHold } from '../../../cluster/policy/policy-hold.js';

beforeEach(() => { vi.useFakeTimers(); vi.setSystemTime(1_000_000); });
afterEach(() => { vi.useRealTimers(); });

describe('PolicyHold', () => {
  it('with fail_closed_after_ms: holds once the leader has been silent past the limit, until it answers', () => {
    const h = new PolicyHold(10_000, 5_000);
    expect(h.holding(true, true, 1, true)).toBe(false);
    vi.advanceTimersByTime(5_001);
    expect(h.holding(true, true, 1, true)).toBe(true);
    // the answer after the silence says the member was cut off: a newer version is then waited for
    expect(h.leaderAnswered(5_001)).toBe(true);
    h.waitFor(2);
    expect(h.holding(true, true, 1, true)).toBe(true);
    h.handled(2);
    expect(h.holding(true, true, 2, true)).toBe(false);
  });

  it('without fail_closed_after_ms a silent leader holds nothing (the instance serves its version, as during the cut)', () => {
    const h = new PolicyHold(10_000, null);
    vi.advanceTimersByTime(60_000);
    expect(h.holding(true, true, 1, true)).toBe(false);
    expect(h.leaderAnswered(60_000)).toBe(false);
  });

  it('without NATS (no leader to ask) the silence never holds', () => {
    const h = new PolicyHold(10_000, 5_000);
    vi.advanceTimersByTime(60_000);
    expect(h.holding(false, false, 0, false)).toBe(false);
  });

  it('a newer revision after a reconnect holds at most the catch-up timeout', () => {
    const h = new PolicyHold(3_000, null);
    h.waitFor(7);
    expect(h.holding(true, true, 6, true)).toBe(true);
    vi.advanceTimersByTime(3_001);
    expect(h.holding(true, true, 6, true)).toBe(false);
  });

  it('after a cut-off past fail_closed_after_ms the wait for the newer version has no timeout (503 until it is applied)', () => {
    const h = new PolicyHold(3_000, 5_000);
    h.waitFor(7, Date.now(), false);
    vi.advanceTimersByTime(60_000);
    h.leaderAnswered(250);
    expect(h.holding(true, true, 6, true)).toBe(true);
    h.handled(7);
    expect(h.holding(true, true, 7, true)).toBe(false);
  });

  it('a reconnect whose connection drops again before the bucket is read: no hold while both connections are down', () => {
    // ops run: all three nats-servers stopped in turn; the policy link reconnected to the next one for
    // milliseconds, and every auth route answered 503 catching_up for 10 s while /readyz said 200
    const h = new PolicyHold(10_000, 30_000);
    h.waitFor(Number.MAX_SAFE_INTEGER); // the reconnect: a version may have been missed
    expect(h.holding(true, true, 4, true)).toBe(true);
    vi.advanceTimersByTime(100);
    expect(h.holding(false, false, 4, true)).toBe(false);
    // still fail closed past fail_closed_after_ms without the leader
    vi.advanceTimersByTime(30_000);
    expect(h.holding(false, false, 4, true)).toBe(true);
  });

  it('a reconnect that read a newer revision, then lost both connections before applying it: still held (bounded), never answered by the old version at once', () => {
    const h = new PolicyHold(10_000, null);
    h.waitFor(Number.MAX_SAFE_INTEGER); // the reconnect
    h.waitFor(7, h.waitingSince()!); // the bucket read: version 7 is there, 6 is applied
    vi.advanceTimersByTime(100);
    expect(h.holding(false, false, 6, true)).toBe(true);
    vi.advanceTimersByTime(10_000);
    expect(h.holding(false, false, 6, true)).toBe(false); // the catch-up timeout still bounds it
  });

  it('after a cut-off the unbounded wait holds even with both connections down', () => {
    const h = new PolicyHold(3_000, 5_000);
    h.waitFor(7, Date.now(), false);
    expect(h.holding(false, false, 6, true)).toBe(true);
  });

  it('the member bus back but the policy connection not: holds for the catch-up timeout', () => {
    const h = new PolicyHold(3_000, null);
    expect(h.holding(false, true, 1, true)).toBe(true);
    vi.advanceTimersByTime(3_001);
    expect(h.holding(false, true, 1, true)).toBe(false);
    expect(h.holding(true, true, 1, true)).toBe(false);
  });

  it('tells its listener when the hold may have changed', () => {
    const h = new PolicyHold(3_000, 5_000);
    const seen: number[] = [];
    h.onChange = () => seen.push(1);
    h.waitFor(3);
    h.handled(3);
    h.leaderAnswered(10);
    expect(seen.length).toBe(3);
  });

  it('fail_closed_after_ms is a duration: a wall clock stepped back does not keep a cut-off member serving its version, one stepped forward holds nothing (regression)', () => {
    // before: the silence was measured on Date.now() — an NTP step back of an hour kept a member cut off from the
    // leader judging requests by a possibly outdated policy for the hour past the limit; a step forward held every
    // auth route 503 at once although the leader had just answered
    const h = new PolicyHold(10_000, 5_000);
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(h.holding(true, true, 1, true)).toBe(false);
    vi.setSystemTime(Date.now() - 7_200_000);
    vi.advanceTimersByTime(5_001);
    expect(h.holding(true, true, 1, true)).toBe(true);
    const w = new PolicyHold(3_000, null);
    w.waitFor(7);
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(3_001);
    expect(w.holding(true, true, 6, true)).toBe(false); // the catch-up timeout still ends the wait
  });
});
