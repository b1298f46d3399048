// A Prometheus family whose samples are computed at scrape time from plain counters.
// prom-client's registry reads a metric through `get()` (the shape getMetricsAsJSON
// returns and AggregatorRegistry merges over workers); this implements that contract
// directly, so a histogram kept as plain bucket counts needs no replay through
// observe() and no prom-client private fields.
import type { Aggregator, Metric, Registry } from 'prom-client';
import type { FamilyType } from './component-families.js';

/** One sample: `metricName` for histogram parts (`<name>_bucket`, `_sum`, `_count`). */
export interface Sample {
  readonly metricName?: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export class ScrapedFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: FamilyType,
    private readonly read: () => readonly Sample[],
    /** How the primary combines the workers' values: sum, or min/max/average for gauges that are not additive. */
    readonly aggregator: Aggregator = 'sum',
  ) {}

  /** The registry's read: called once per scrape (and per worker when the primary aggregates). */
  async get(): Promise<{ name: string; help: string; type: FamilyType; aggregator: Aggregator; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.read()] };
  }

  /** Values live in the components' counters; nothing to reset here. */
  reset(): void {}

  /** Add to `registry`. The registry accepts any object with this shape (its own cluster aggregation registers such objects); TypeScript's Metric type lists only the classes. */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}

/** Histogram samples for one label set from non-cumulative bucket counts (`counts.length` = bounds + 1, the last is +Inf); `le` first, as prom-client prints it. */
export function histogramSamples(name: string, labels: Record<string, string>, bounds: readonly number[], counts: ArrayLike<number>, sum: number, count: number): Sample[] {
  const out: Sample[] = [];
  let cum = 0;
  for (let i = 0; i < bounds.length; i++) {
    cum += counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { le: String(bounds[i]), ...labels }, value: cum });
  }
  out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...labels }, value: count });
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: count });
  return out;
}
