// Pure arithmetic over load results: medians of rounds, ratios between targets, added latency.
// Latencies are milliseconds (with microsecond resolution), throughput is responses per second.

/** One load run against one target. */
export interface LoadResult {
  /** Completed responses per second over the measured window. */
  rps: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  p999: number;
  /** Connection errors (refused, reset) and request timeouts. */
  errors: number;
  /** Responses whose status was not 2xx. */
  non2xx: number;
  /** Responses completed in the measured window. */
  requests: number;
  durationS: number;
  /** CPU time the process under test used per response, in µs (absent when not sampled). */
  cpuUsPerReq?: number;
  /** CPU (cores) used by processes outside the bench during the window: > 0.1 means disturbed. */
  foreignCores?: number;
  /** V8 heap bytes the process allocated per response (heap-alloc-preload.ts; warmup included). */
  heapBytesPerReq?: number;
}

/** Several rounds of one target folded into one line: medians, except counts of failures which are summed. */
export interface LoadSummary {
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  non2xx: number;
  rounds: number;
  cpuUsPerReq?: number;
  /** The worst round's foreign CPU (cores). */
  foreignCores?: number;
  heapBytesPerReq?: number;
}

/** Median (mean of the middle two for even counts); NaN for an empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Fold rounds: median rps and percentiles (robust to one noisy round), total errors and non-2xx. */
export function summarise(rounds: readonly LoadResult[]): LoadSummary {
  const cpu = rounds.map((r) => r.cpuUsPerReq).filter((x): x is number => x !== undefined);
  const s: LoadSummary = {
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    p999: median(rounds.map((r) => r.p999)),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    non2xx: rounds.reduce((n, r) => n + r.non2xx, 0),
    rounds: rounds.length,
  };
  if (cpu.length > 0) s.cpuUsPerReq = median(cpu);
  const foreign = rounds.map((r) => r.foreignCores).filter((x): x is number => x !== undefined);
  if (foreign.length > 0) s.foreignCores = Math.max(...foreign);
  const heap = rounds.map((r) => r.heapBytesPerReq).filter((x): x is number => x !== undefined);
  if (heap.length > 0) s.heapBytesPerReq = median(heap);
  return s;
}

/** a / b, or null when either side is missing, not finite, or b is 0 (a skipped peer gives no ratio). */
export function ratio(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/**
 * Median over rounds of a[i] / b[i]: targets measured back-to-back in the same round share the
 * machine's state at that moment, so pairing cancels drift between rounds. Null when a side is
 * missing, the lengths differ, or no round gives a finite ratio.
 */
export function pairedRatio(a: readonly number[] | undefined, b: readonly number[] | undefined): number | null {
  if (a === undefined || b === undefined || a.length !== b.length || a.length === 0) return null;
  const rs = a.map((x, i) => ratio(x, b[i])).filter((r): r is number => r !== null);
  return rs.length === 0 ? null : median(rs);
}

/** Median over rounds of a[i] − b[i] (e.g. latency a hop adds over direct); null as for pairedRatio. */
export function pairedDiff(a: readonly number[] | undefined, b: readonly number[] | undefined): number | null {
  if (a === undefined || b === undefined || a.length !== b.length || a.length === 0) return null;
  const ds = a.map((x, i) => x - b[i]!).filter((d) => Number.isFinite(d));
  return ds.length === 0 ? null : median(ds);
}

/** The order of targets in round `round`: rotated each round so no target always runs first (or last) after a warm cache. */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  if (targets.length === 0) return [];
  const k = round % targets.length;
  return [...targets.slice(k), ...targets.slice(0, k)];
}
