import { describe, expect, it } from 'vitest';
import { slope, soakTable, summariseSoak, type SoakSample } from '../../../bench/soak.bench.js';

const MiB = 2 ** 20;
const samples = (rssAt: (t: number) => number, n = 60): SoakSample[] =>
  Array.from({ length: n }, (_, i) => ({ t: (i + 1) * 10, rss: rssAt((i + 1) * 10), heapMin: 20 * MiB, requests: 50_000, non2xx: 0, errors: 0, cacheEntries: 10_000 }));

describe('soak summary', () => {
  it('slope is the least-squares fit', () => {
    expect(slope([0, 1, 2, 3], [1, 3, 5, 7])).toBeCloseTo(2, 10);
    expect(slope([0, 1, 2, 3], [5, 5, 5, 5])).toBe(0);
    expect(slope([1], [1])).toBe(0);
  });

  it('calls a warmup rise followed by a plateau flat, measured from the end of the warmup', () => {
    // grows during the first minute, then wobbles around 200 MiB
    const s = summariseSoak(samples((t) => (t <= 60 ? 100 + t * 1.6 : 200 + (t % 20 === 0 ? 1 : -1)) * MiB), 60);
    expect(s.flat).toBe(true);
    expect(s.rssAfterWarmup).toBe(196 * MiB);
    expect(Math.abs(s.slopePerMin)).toBeLessThan(0.1 * MiB);
    expect(s.requests).toBe(3_000_000);
    expect(s.rps).toBeCloseTo(5000, 0);
    expect(soakTable(s, samples(() => 200 * MiB), 30_000, 10_000)).toContain('| flat |');
  });

  it('a step early after the warmup shows in the overall slope, not in the second half\'s', () => {
    const s = summariseSoak(samples((t) => (t < 200 ? 210 : 240) * MiB), 60);
    expect(s.slopePerMin).toBeGreaterThan(0);
    expect(s.lateSlopePerMin).toBe(0);
    expect(s.flat).toBe(true);
  });

  it('a heap that keeps growing is not flat even when RSS is', () => {
    const xs = samples(() => 200 * MiB).map((x) => ({ ...x, heapMin: (20 + x.t * 0.05) * MiB }));
    const s = summariseSoak(xs, 60);
    expect(s.lateHeapSlopePerMin / MiB).toBeCloseTo(3, 5);
    expect(s.flat).toBe(false);
  });

  it('calls a steady leak growth, with its rate', () => {
    const s = summariseSoak(samples((t) => (200 + t * 0.1) * MiB), 60); // 6 MiB per minute
    expect(s.flat).toBe(false);
    expect(s.slopePerMin / MiB).toBeCloseTo(6, 5);
    expect(s.lateSlopePerMin / MiB).toBeCloseTo(6, 5);
    expect(soakTable(s, samples(() => 200 * MiB), 30_000, 10_000)).toContain('GROWS');
  });
});
