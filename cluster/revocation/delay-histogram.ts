// Propagation delay (publish timestamp → applied here) as cumulative histogram buckets
// for Prometheus plus p50/p99/max over a ring of the most recent samples.

/** Bucket upper bounds, milliseconds. */
export const DELAY_BUCKETS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1_000, 5_000] as const;

/** Fixed-memory delay recorder. */
export class DelayHistogram {
  private readonly counts = new Array<number>(DELAY_BUCKETS_MS.length + 1).fill(0);
  private readonly ring: Float64Array;
  private n = 0;
  private sum = 0;
  private max = 0;

  constructor(ringSize = 4096) {
    this.ring = new Float64Array(ringSize);
  }

  /** Record one delay in ms (negative clock skew clamps to 0). */
  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    let i = 0;
    while (i < DELAY_BUCKETS_MS.length && v > DELAY_BUCKETS_MS[i]!) i++;
    this.counts[i]!++;
    this.ring[this.n % this.ring.length] = v;
    this.n++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Quantile q (0..1) over the recent samples, ms; 0 when empty. */
  quantile(q: number): number {
    const len = Math.min(this.n, this.ring.length);
    if (len === 0) return 0;
    const sorted = Float64Array.from(this.ring.subarray(0, len)).sort();
    return sorted[Math.min(len - 1, Math.floor(q * len))]!;
  }

  get count(): number {
    return this.n;
  }

  /** Flat metrics: `<name>_bucket_le_<bound>` (cumulative), `_count`, `_sum`, `_p50`, `_p99`, `_max`. */
  stats(name: string): Record<string, number> {
    const out: Record<string, number> = {};
    let cum = 0;
    DELAY_BUCKETS_MS.forEach((b, i) => { cum += this.counts[i]!; out[`${name}_bucket_le_${b}`] = cum; });
    out[`${name}_bucket_le_inf`] = this.n;
    out[`${name}_count`] = this.n;
    out[`${name}_sum`] = this.sum;
    out[`${name}_p50`] = this.quantile(0.5);
    out[`${name}_p99`] = this.quantile(0.99);
    out[`${name}_max`] = this.max;
    return out;
  }
}
