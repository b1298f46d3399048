// Reads the components' flat counters (addSource) once per scrape and sorts them into the
// families of component-families.ts; keys the table does not know go to the fallback
// family and are counted, so a new counter without a family is visible, never lost.
import type { Registry } from 'prom-client';
import { COMPONENT_FAMILIES, mapKey, UNMAPPED_COUNT_FAMILY, UNMAPPED_FAMILY } from './component-families.js';
import { ScrapedFamily, type Sample } from './scraped-family.js';

/** A component's counters: `{ "component.name": value }`, read at scrape time. */
export type MetricSource = () => Record<string, number>;

interface Scrape {
  readonly byFamily: Map<string, Sample[]>;
  readonly unmapped: Sample[];
}

export class ComponentCollector {
  private readonly sources: MetricSource[] = [];
  private current: Scrape | null = null;

  constructor(registry: Registry) {
    for (const f of COMPONENT_FAMILIES.values()) {
      new ScrapedFamily(f.name, f.help, f.type, () => this.scrape().byFamily.get(f.name) ?? [], f.aggregate).register(registry);
    }
    new ScrapedFamily(UNMAPPED_FAMILY, 'Component values without a family in node/metrics/component-families.ts (a bug: report it); labels name the source key', 'gauge',
      () => this.scrape().unmapped).register(registry);
    new ScrapedFamily(UNMAPPED_COUNT_FAMILY, 'Distinct component keys exported as portcullis_unmapped_value (0 when every key has a family; the highest over workers)', 'gauge',
      () => [{ labels: {}, value: this.scrape().unmapped.length }], 'max').register(registry);
  }

  add(fn: MetricSource): void {
    this.sources.push(fn);
  }

  clear(): void {
    this.sources.length = 0;
  }

  /** Every source key with its value, as the components report them (tests, diagnosis). */
  read(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const src of this.sources) Object.assign(out, src());
    return out;
  }

  /**
   * The registry reads every family in one synchronous pass per scrape (its `get()` calls
   * are started in a loop before any is awaited): read the sources once for that pass.
   */
  private scrape(): Scrape {
    if (this.current !== null) return this.current;
    const byFamily = new Map<string, Sample[]>();
    const unmapped: Sample[] = [];
    for (const [key, raw] of Object.entries(this.read())) {
      const m = mapKey(key);
      if (m === 'elsewhere') continue;
      if (m === null) {
        const dot = key.indexOf('.');
        unmapped.push({ labels: { component: dot > 0 ? key.slice(0, dot) : 'proxy', name: dot > 0 ? key.slice(dot + 1) : key }, value: raw });
        continue;
      }
      const value = raw < 0 ? raw : raw * m.scale;
      let list = byFamily.get(m.family);
      if (list === undefined) { list = []; byFamily.set(m.family, list); }
      list.push(m.suffix === '' ? { labels: { ...m.labels }, value } : { metricName: m.family + m.suffix, labels: { ...m.labels }, value });
    }
    // histogram buckets sort by bound, +Inf last, then _sum and _count (exposition order)
    for (const list of byFamily.values()) if (list.some((s) => s.metricName !== undefined)) list.sort(histogramOrder);
    this.current = { byFamily, unmapped };
    queueMicrotask(() => { this.current = null; });
    return this.current;
  }
}

const part = (s: Sample): number => (s.metricName?.endsWith('_bucket') ? 0 : s.metricName?.endsWith('_sum') ? 1 : 2);
const bound = (s: Sample): number => (s.labels.le === '+Inf' ? Infinity : Number(s.labels.le));
function histogramOrder(a: Sample, b: Sample): number {
  return part(a) - part(b) || bound(a) - bound(b) || 0;
}
