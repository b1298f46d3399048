// Scenario tail-pair's pure statistics: nearest-rank quantiles, samples cut into send-time windows,
// per-window proxy − direct differences (a hiccup both streams saw cancels; a constant added delay
// is read exactly), the loader's late windows set apart, and the target list. The load needs processes.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { groupByWindow, overCauses, pairSummary, pairWindows, percentiles, quantileSorted, summariseDiffs, windowsTouched, type StreamSamples } from '../../../bench/tail-pair-stats.js';
import { pairNodeArgs, pairTable, pairTargets, type PairRound } from '../../../bench/tail-pair.bench.js';

/** A stream of `n` samples per window over `windows` windows, latency from `lat(window, i)`. */
function stream(windows: number, n: number, windowMs: number, lat: (w: number, i: number) => number): StreamSamples {
  const dueMs: number[] = [];
  const latMs: number[] = [];
  for (let w = 0; w < windows; w++) for (let i = 0; i < n; i++) { dueMs.push(w * windowMs + (i * windowMs) / n); latMs.push(lat(w, i)); }
  return { dueMs, latMs };
}

describe('tail-pair quantiles', () => {
  it('takes the nearest rank: p99 of 100 values is the 99th, of 50 the largest', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantileSorted(xs, 99)).toBe(99);
    expect(quantileSorted(xs, 50)).toBe(50);
    expect(quantileSorted(xs.slice(0, 50), 99)).toBe(50);
    expect(quantileSorted([], 99)).toBeNaN();
  });

  it('is a member of the list, between min and max, and monotone in p', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (xs, a, b) => {
      const s = [...xs].sort((x, y) => x - y);
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      expect(s).toContain(quantileSorted(s, lo));
      expect(quantileSorted(s, lo)).toBeLessThanOrEqual(quantileSorted(s, hi));
      expect(quantileSorted(s, 100)).toBe(s[s.length - 1]);
    }));
  });

  it('percentiles of a stream in any order', () => {
    const p = percentiles([5, 1, 4, 2, 3]);
    expect(p).toEqual({ n: 5, p50: 3, p90: 5, p99: 5, p999: 5, max: 5 });
  });
});

describe('tail-pair windows', () => {
  it('puts every sample in exactly the window floor(due / windowMs)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.double({ min: 0, max: 5000, noNaN: true }), fc.double({ min: 0, max: 50, noNaN: true })), { maxLength: 400 }), fc.integer({ min: 1, max: 500 }), (xs, windowMs) => {
      const g = groupByWindow({ dueMs: xs.map((x) => x[0]), latMs: xs.map((x) => x[1]) }, windowMs);
      expect([...g.values()].reduce((n, l) => n + l.length, 0)).toBe(xs.length);
      for (const [due, lat] of xs) expect(g.get(Math.floor(due / windowMs))).toContain(lat);
    }));
    expect(() => groupByWindow({ dueMs: [], latMs: [] }, 0)).toThrow(/windowMs/);
  });

  it('reads a constant added delay exactly in every window, whatever the host did to both streams', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 20, noNaN: true }), { minLength: 3, maxLength: 12 }), fc.double({ min: 0, max: 5, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (hiccups, added, seed) => {
      // the same per-window hiccup and the same spread in both streams; the proxy stream 4× as dense, each value repeated
      const base = (w: number, i: number): number => 0.1 + ((i * 7919 + seed) % 97) / 100 + hiccups[w]!;
      const direct = stream(hiccups.length, 50, 100, base);
      const proxy = stream(hiccups.length, 200, 100, (w, i) => base(w, i >> 2) + added);
      const ws = pairWindows(proxy, direct, 100);
      expect(ws).toHaveLength(hiccups.length);
      for (const w of ws) expect(w.diff).toBeCloseTo(added, 9);
    }));
  });

  it('leaves out windows with too few samples on either side, and windows only one stream has', () => {
    const direct = stream(3, 20, 100, () => 1);
    const proxy = { dueMs: [...stream(3, 20, 100, () => 2).dueMs, 350, 351], latMs: [...stream(3, 20, 100, () => 2).latMs, 9, 9] };
    expect(pairWindows(proxy, direct, 100).map((w) => w.index)).toEqual([0, 1, 2]);
    expect(pairWindows(proxy, direct, 100, 99, 21)).toEqual([]);
  });

  it('an A/A pair (the same samples on both sides) gives zero in every window', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 30, noNaN: true }), { minLength: 10, maxLength: 200 }), (lats) => {
      const s = { dueMs: lats.map((_, i) => i), latMs: lats };
      for (const w of pairWindows(s, s, 50, 99, 1)) expect(w.diff).toBe(0);
    }));
  });
});

describe('tail-pair summary', () => {
  it('folds window differences: median, p90, share over 1 ms', () => {
    const s = summariseDiffs([0.1, 0.2, 1.5, 0.3, 2.0, 0.4, 0.5, 0.6, 0.7, 0.8]);
    expect(s.windows).toBe(10);
    expect(s.median).toBeCloseTo(0.55, 9);
    expect(s.p90).toBe(1.5);
    expect(s.overShare).toBeCloseTo(0.2, 9);
    expect(summariseDiffs([]).overShare).toBeNaN();
  });

  it('sets apart the windows the loader was late in, and counts their share', () => {
    const direct = stream(4, 50, 100, () => 0.2);
    // window 2: a 3 ms stall the proxy stream alone shows, and the loader was late there
    const proxy = stream(4, 200, 100, (w, i) => (w === 2 && i > 190 ? 3.3 : 0.3));
    const loader = [0, 1, 2, 3].map((index) => ({ index, maxGapMs: index === 2 ? 4 : 0.1, maxLagMs: 0.05 }));
    const { summary, windows } = pairSummary(proxy, direct, loader, { windowMs: 100 });
    expect(windows.map((w) => Math.round(w.diff * 1000) / 1000)).toEqual([0.1, 0.1, 3.1, 0.1]);
    expect(summary.windowed.overShare).toBe(0.25);
    expect(summary.windowedClean).toEqual({ windows: 3, median: expect.closeTo(0.1, 9) as number, p90: expect.closeTo(0.1, 9) as number, overShare: 0 });
    expect(summary.loaderDirtyShare).toBe(0.25);
    expect(summary.loaderMaxGapMs).toBe(4);
    expect(summary.added.p50).toBeCloseTo(0.1, 9);
  });
});

describe('tail-pair causes', () => {
  it('marks every window an interval touches, from its start to its end, ignoring short ones', () => {
    expect([...windowsTouched([[50, 10], [95, 10], [250, 0.1], [399.5, 0.6]], 100, 0.5)].sort()).toEqual([0, 1, 3, 4]);
    fc.assert(fc.property(fc.array(fc.tuple(fc.double({ min: 0, max: 5000, noNaN: true }), fc.double({ min: 0, max: 300, noNaN: true })), { maxLength: 50 }), fc.integer({ min: 1, max: 500 }), (iv, windowMs) => {
      const t = windowsTouched(iv, windowMs);
      for (const [s, d] of iv) { expect(t.has(Math.floor(s / windowMs))).toBe(true); expect(t.has(Math.floor((s + d) / windowMs))).toBe(true); }
    }));
  });

  it('counts the windows over 1 ms by cause: GC first, then the runqueue, then the loader, else neither', () => {
    const d = [2, 2, 2, 2, 0.5, 1];
    expect(overCauses(d, [true, false, false, true, true, false], [true, true, false, false, true, true], [true, true, true, false, true, true])).toEqual({ over: 4, withGc: 2, runqueue: 1, loaderLate: 1, neither: 0 });
    expect(overCauses([1.5], [], [], [])).toEqual({ over: 1, withGc: 0, runqueue: 0, loaderLate: 0, neither: 1 });
  });

  it('every window over the bound gets exactly one cause', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.double({ min: -5, max: 5, noNaN: true }), fc.boolean(), fc.boolean(), fc.boolean()), { maxLength: 100 }), (ws) => {
      const c = overCauses(ws.map((w) => w[0]), ws.map((w) => w[1]), ws.map((w) => w[2]), ws.map((w) => w[3]));
      expect(c.over).toBe(ws.filter((w) => w[0] > 1).length);
      expect(c.withGc + c.runqueue + c.loaderLate + c.neither).toBe(c.over);
    }));
  });
});

describe('tail-pair targets and table', () => {
  it('puts the A/A control first, keeps the order given, refuses unknown names', () => {
    expect(pairTargets(undefined)[0]).toBe('direct');
    expect(pairTargets('hap-jwt, pc-jwt')).toEqual(['direct', 'hap-jwt', 'pc-jwt']);
    expect(pairTargets('pc-jwt,direct')).toEqual(['direct', 'pc-jwt']);
    expect(() => pairTargets('pc-w2')).toThrow(/"pc-w2"/);
  });

  it('runs the flags row only when named, and only with node flags to run it with', () => {
    expect(pairTargets(undefined)).not.toContain('pcflags-jwt');
    const named = pairTargets('pc-jwt,pcflags-jwt');
    expect(pairNodeArgs(' --single-threaded-gc  --max-semi-space-size=64 ', named)).toEqual(['--single-threaded-gc', '--max-semi-space-size=64']);
    expect(pairNodeArgs(undefined, pairTargets('pc-jwt'))).toEqual([]);
    expect(() => pairNodeArgs(undefined, named)).toThrow(/PORTCULLIS_BENCH_PAIR_NODE_ARGS/);
    expect(() => pairNodeArgs('single-threaded-gc', named)).toThrow(/"single-threaded-gc"/);
  });

  it('pools the windows of every round for the window columns', () => {
    const round = (r: number, diffs: number[], clean: boolean[], gc: boolean[]): PairRound => ({
      target: 'pc-jwt', round: r, windowDiffs: diffs, windowClean: clean, windowGc: gc, windowWaitMs: diffs.map((_, i) => i * 0.5),
      summary: pairSummary(stream(2, 20, 100, () => 1), stream(2, 20, 100, () => 0.5), [], { windowMs: 100 }).summary,
      proxyErrors: 0, proxyNon2xx: 0, directErrors: 0, directNon2xx: 0, rps: 2000, cpuUsPerReq: 80, cpuUsPerReqByProcess: [2, 40, 38], loaderCores: 1, foreignCores: 0.2, gc: [],
    });
    const t = pairTable([round(0, [0.1, 2, 0.2], [true, false, true], [false, false, false]), round(1, [0.3, 0.4, 1.2], [true, true, true], [false, false, true])], ['direct', 'pc-jwt']);
    const cells = t.split('\n').find((l) => l.startsWith('| pc-jwt |'))!.split('|').map((c) => c.trim());
    // columns: '', target, p50, p99, p99.9, direct p99, added p99, added p99.9, Δ median, Δ p90, > 1 ms, clean, windows, late, gap, causes, runqueue, CPU, GC, foreign
    expect(cells[8]).toBe('**0.350**');
    expect(cells[10]).toBe('**33.3 %**');
    expect(cells[11]).toBe('0.300 / 1.200 / 20.0 %');
    expect(cells[12]).toBe('6');
    expect(cells[13]).toBe('16.7 %');
    // window 2 of round 0 (Δ 2, loader late, waited 0.5 ms) → loader; window 3 of round 1 (Δ 1.2, GC, waited 1 ms) → GC
    expect(cells[15]).toBe('1 / 0 / 1 / 0');
    expect(cells[16]).toBe('0.50 / 1.00');
    expect(cells[19]).toBe('0.20');
    expect(t).not.toMatch(/\| direct \|/);
  });
});
