// Scenario tail-pair's pure statistics: two latency streams measured at the same time (a proxy
// stream and a direct probe stream to the same upstream), cut into fixed time windows by send time,
// and compared per window so that a host hiccup both streams saw cancels out of the difference.
import { median } from './stats.js';

/** One stream's samples, column-wise: due (scheduled send, ms since the run's start) and latency from it (ms). */
export interface StreamSamples {
  dueMs: readonly number[];
  latMs: readonly number[];
}

/** Percentiles of one stream, ms (NaN when empty). */
export interface StreamPercentiles { n: number; p50: number; p90: number; p99: number; p999: number; max: number }

/** One window in which both streams had enough samples. */
export interface PairWindow {
  /** Window index: floor(due / windowMs). */
  index: number;
  proxyN: number;
  directN: number;
  /** The windows' own quantile (`q`, default p99) of each stream, ms, and proxy − direct. */
  proxyQ: number;
  directQ: number;
  diff: number;
}

/**
 * Nearest-rank quantile of an ascending-sorted list: the smallest value with at least p % of the
 * list at or below it (p in 0…100; 0 gives the minimum). NaN for an empty list.
 */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** p50/p90/p99/p99.9/max of a list (any order), nearest rank. */
export function percentiles(xs: readonly number[]): StreamPercentiles {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: quantileSorted(s, 50), p90: quantileSorted(s, 90), p99: quantileSorted(s, 99), p999: quantileSorted(s, 99.9), max: s.length === 0 ? Number.NaN : s[s.length - 1]! };
}

/** Pure: latencies grouped by window index floor(due / windowMs); every sample lands in exactly one window. */
export function groupByWindow(s: StreamSamples, windowMs: number): Map<number, number[]> {
  if (!(windowMs > 0)) throw new Error(`windowMs must be > 0, got ${windowMs}`);
  const out = new Map<number, number[]>();
  for (let i = 0; i < s.dueMs.length; i++) {
    const w = Math.floor(s.dueMs[i]! / windowMs);
    let list = out.get(w);
    if (list === undefined) { list = []; out.set(w, list); }
    list.push(s.latMs[i]!);
  }
  return out;
}

/**
 * Pure: the windows (ascending index) in which each stream has at least `minPerStream` samples,
 * with each stream's quantile `q` in that window and the difference proxy − direct. A window
 * short of samples on either side (the run's edges) is left out rather than read from a handful.
 */
export function pairWindows(proxy: StreamSamples, direct: StreamSamples, windowMs: number, q = 99, minPerStream = 10): PairWindow[] {
  const pw = groupByWindow(proxy, windowMs);
  const dw = groupByWindow(direct, windowMs);
  const out: PairWindow[] = [];
  for (const index of [...pw.keys()].sort((a, b) => a - b)) {
    const p = pw.get(index)!;
    const d = dw.get(index);
    if (d === undefined || p.length < minPerStream || d.length < minPerStream) continue;
    const proxyQ = quantileSorted([...p].sort((a, b) => a - b), q);
    const directQ = quantileSorted([...d].sort((a, b) => a - b), q);
    out.push({ index, proxyN: p.length, directN: d.length, proxyQ, directQ, diff: proxyQ - directQ });
  }
  return out;
}

/** The per-window differences folded: how many, their median and p90, and the share above `overMs`. */
export interface WindowDiffSummary { windows: number; median: number; p90: number; overShare: number }

/** Pure: fold per-window differences (ms); NaN medians and share for none. `overMs` default 1 (issue 13's bound). */
export function summariseDiffs(diffs: readonly number[], overMs = 1): WindowDiffSummary {
  const s = [...diffs].sort((a, b) => a - b);
  return { windows: s.length, median: median(s), p90: quantileSorted(s, 90), overShare: s.length === 0 ? Number.NaN : s.filter((d) => d > overMs).length / s.length };
}

/** The loader's own health per window: the longest gap between two pacer turns and the worst send lag (actual − due), ms. */
export interface LoaderWindow { index: number; maxGapMs: number; maxLagMs: number }

/** Pure: window indexes whose loader was late by more than `limitMs` (gap between turns or a send's lag). */
export function dirtyWindows(loader: readonly LoaderWindow[], limitMs: number): Set<number> {
  return new Set(loader.filter((w) => w.maxGapMs > limitMs || w.maxLagMs > limitMs).map((w) => w.index));
}

/** What one paired run yields: each stream's distribution, the whole-run difference and the windowed one. */
export interface PairSummary {
  proxy: StreamPercentiles;
  direct: StreamPercentiles;
  /** Whole-run proxy − direct per percentile, ms. */
  added: { p50: number; p90: number; p99: number; p999: number };
  /** Per-window p99 difference over every complete window, and over the windows the loader was on time in. */
  windowed: WindowDiffSummary;
  windowedClean: WindowDiffSummary;
  /** Share of windows the loader was late in (> `loaderLimitMs`), and its worst gap and lag over the run. */
  loaderDirtyShare: number;
  loaderMaxGapMs: number;
  loaderMaxLagMs: number;
}

export interface PairOptions { windowMs: number; q?: number; minPerStream?: number; overMs?: number; loaderLimitMs?: number }

/** Pure: the summary of one paired run (defaults: p99 windows, ≥ 10 samples per stream, over 1 ms, loader limit 0.5 ms). */
export function pairSummary(proxy: StreamSamples, direct: StreamSamples, loader: readonly LoaderWindow[], o: PairOptions): { summary: PairSummary; windows: PairWindow[] } {
  const windows = pairWindows(proxy, direct, o.windowMs, o.q ?? 99, o.minPerStream ?? 10);
  const dirty = dirtyWindows(loader, o.loaderLimitMs ?? 0.5);
  const p = percentiles(proxy.latMs);
  const d = percentiles(direct.latMs);
  const seen = new Set(windows.map((w) => w.index));
  const summary: PairSummary = {
    proxy: p, direct: d,
    added: { p50: p.p50 - d.p50, p90: p.p90 - d.p90, p99: p.p99 - d.p99, p999: p.p999 - d.p999 },
    windowed: summariseDiffs(windows.map((w) => w.diff), o.overMs ?? 1),
    windowedClean: summariseDiffs(windows.filter((w) => !dirty.has(w.index)).map((w) => w.diff), o.overMs ?? 1),
    loaderDirtyShare: seen.size === 0 ? Number.NaN : [...seen].filter((i) => dirty.has(i)).length / seen.size,
    loaderMaxGapMs: loader.reduce((m, w) => Math.max(m, w.maxGapMs), 0),
    loaderMaxLagMs: loader.reduce((m, w) => Math.max(m, w.maxLagMs), 0),
  };
  return { summary, windows };
}

/**
 * Pure: the windows an interval touches — each [startMs, durationMs] (ms since the run's start) marks
 * the window it starts in through the window it ends in; intervals shorter than `minMs` are ignored.
 * Used to line the proxy's GC pauses up with the latency windows.
 */
export function windowsTouched(intervals: ReadonlyArray<readonly [number, number]>, windowMs: number, minMs = 0): Set<number> {
  const out = new Set<number>();
  for (const [start, dur] of intervals) {
    if (dur < minMs) continue;
    for (let w = Math.floor(start / windowMs); w <= Math.floor((start + dur) / windowMs); w++) out.add(w);
  }
  return out;
}

/** Where the windows over `overMs` fall, first cause that applies: a GC pause, the target's threads waiting for a CPU, the loader late, else neither. */
export interface OverCauses { over: number; withGc: number; runqueue: number; loaderLate: number; neither: number }

/** Pure: count the windows whose difference exceeds `overMs` by cause; `gc[i]`, `runq[i]` and `late[i]` flag window i. */
export function overCauses(diffs: readonly number[], gc: readonly boolean[], runq: readonly boolean[], late: readonly boolean[], overMs = 1): OverCauses {
  const out: OverCauses = { over: 0, withGc: 0, runqueue: 0, loaderLate: 0, neither: 0 };
  diffs.forEach((d, i) => {
    if (!(d > overMs)) return;
    out.over++;
    if (gc[i] === true) out.withGc++;
    else if (runq[i] === true) out.runqueue++;
    else if (late[i] === true) out.loaderLate++;
    else out.neither++;
  });
  return out;
}
