// The machinery of the metric family table: from the components' flat counters
// (`addSource(() => ({ 'component.name': value }))`) to Prometheus families. The rows live in
// component-families.ts (one key → one sample) and named-families.ts (keys that carry a name,
// matched by pattern); a key missing from both is still exported (portcullis_unmapped_value).
import type { Aggregator } from 'prom-client';

export type FamilyType = 'counter' | 'gauge' | 'histogram';

/** One Prometheus family. `aggregate`: how the primary combines workers' values (default sum). */
export interface FamilySpec {
  readonly name: string;
  readonly type: FamilyType;
  readonly help: string;
  readonly aggregate: Aggregator;
  /** Label names (histograms: besides `le`). */
  readonly labels: readonly string[];
}

/** Where one source key lands: family, sample suffix (histograms), labels, and the factor to the family's unit. */
export interface KeyMapping {
  readonly family: string;
  readonly suffix: '' | '_bucket' | '_sum' | '_count';
  readonly labels: Readonly<Record<string, string>>;
  /** Multiply the source value by this (ms → s: 0.001). Negative values ("unknown") pass unscaled. */
  readonly scale: number;
}

/** Fallback family for keys the table does not know (README: Metrics). */
export const UNMAPPED_FAMILY = 'portcullis_unmapped_value';
/** Gauge: how many distinct source keys fell back to UNMAPPED_FAMILY in this scrape. */
export const UNMAPPED_COUNT_FAMILY = 'portcullis_metrics_unmapped_keys';

export const families = new Map<string, FamilySpec>();
export const exact = new Map<string, KeyMapping>();

export type Labels = Record<string, string>;
interface Opts { aggregate?: Aggregator; scale?: number }

function family(name: string, type: FamilyType, help: string, keys: Record<string, Labels | null>, opts: Opts = {}): void {
  if (families.has(name)) throw new Error(`metric family ${name} declared twice`);
  const labels = [...new Set(Object.values(keys).flatMap((l) => Object.keys(l ?? {})))];
  families.set(name, { name, type, help, aggregate: opts.aggregate ?? 'sum', labels });
  for (const [key, labels] of Object.entries(keys)) {
    if (exact.has(key)) throw new Error(`metric source key ${key} mapped twice`);
    exact.set(key, { family: name, suffix: '', labels: labels ?? {}, scale: opts.scale ?? 1 });
  }
}
export const counter = (name: string, help: string, keys: Record<string, Labels | null>, opts?: Opts): void => family(name, 'counter', help, keys, opts);
export const gauge = (name: string, help: string, keys: Record<string, Labels | null>, opts?: Opts): void => family(name, 'gauge', help, keys, opts);
/** `key → label value` for a family with one label. */
export const by = (label: string, pairs: Record<string, string>): Record<string, Labels> =>
  Object.fromEntries(Object.entries(pairs).map(([k, v]) => [k, { [label]: v }]));
export const MS = 0.001;

// ---- keys that carry a name: matched by pattern (rows in named-families.ts) ----
/** A family of keys matched by pattern: `map` the match to a sample, `unmap` a sample back to its key (null: not ours). */
export interface KeyPattern {
  readonly re: RegExp;
  map(m: RegExpExecArray): KeyMapping;
  unmap(metric: string, labels: Readonly<Record<string, string>>): string | null;
}
export const patterns: KeyPattern[] = [];
/** Keys whose value is exported through other keys (mapKey answers 'elsewhere'). */
export const elsewhere = new Set<string>();
export const declare = (name: string, type: FamilyType, help: string, labels: string[], aggregate: Aggregator = 'sum'): void => {
  if (families.has(name)) throw new Error(`metric family ${name} declared twice`);
  families.set(name, { name, type, help, aggregate, labels });
};
export const sample = (family: string, labels: Record<string, string>, suffix: KeyMapping['suffix'] = '', scale = 1): KeyMapping => ({ family, suffix, labels, scale });
/** `<prefix><name><sep><what>` → `family[what]{<label>: name, ...labels[what]}`; `what` is one of the table's keys. */
export function named(prefix: string, sep: string, label: string, table: Record<string, { family: string; labels?: Record<string, string> }>): void {
  const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  patterns.push({
    re: new RegExp(`^${esc(prefix)}(.+)${esc(sep)}(${Object.keys(table).join('|')})$`),
    map: (m) => { const t = table[m[2]!]!; return sample(t.family, { [label]: m[1]!, ...t.labels }); },
    unmap: (metric, labels) => {
      if (labels[label] === undefined) return null;
      for (const [what, t] of Object.entries(table)) {
        const want = t.labels ?? {};
        if (t.family === metric && Object.keys(labels).length === Object.keys(want).length + 1 && Object.entries(want).every(([k, v]) => labels[k] === v)) return `${prefix}${labels[label]}${sep}${what}`;
      }
      return null;
    },
  });
}

/** Every family the table can produce. */
export const COMPONENT_FAMILIES: ReadonlyMap<string, FamilySpec> = families;

/** The family a source key belongs to; 'elsewhere' when its value is exported through other keys (not exported itself); null: unknown (exported under UNMAPPED_FAMILY). */
export function mapKey(key: string): KeyMapping | 'elsewhere' | null {
  const m = exact.get(key);
  if (m !== undefined) return m;
  if (elsewhere.has(key)) return 'elsewhere';
  for (const p of patterns) {
    const hit = p.re.exec(key);
    if (hit !== null) return p.map(hit);
  }
  return null;
}

/** The source key a sample came from (the inverse of mapKey), or null. For tools reading /metrics as flat values. */
export function unmapSample(metric: string, labels: Readonly<Record<string, string>>): string | null {
  const hit = inverse().get(sampleId(metric, labels));
  if (hit !== undefined) return hit;
  for (const p of patterns) {
    const key = p.unmap(metric, labels);
    if (key !== null) return key;
  }
  return null;
}

export const round = (x: number): number => Math.round(x * 1e9) / 1e9;
const sampleId = (metric: string, labels: Readonly<Record<string, string>>): string =>
  `${metric}{${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',')}}`;
let inverted: Map<string, string> | null = null;
function inverse(): Map<string, string> {
  if (inverted === null) {
    inverted = new Map();
    for (const [key, m] of exact) inverted.set(sampleId(m.family + m.suffix, m.labels), key);
  }
  return inverted;
}
