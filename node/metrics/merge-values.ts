// Component values of a process whose registry is not part of the node:cluster aggregation
// (the `--workers` primary: the cluster policy watcher lives there) merged into the workers'
// aggregated exposition through the same family table: the samples go under the family's
// own HELP/TYPE (which every worker's registry prints, without samples), never as a second
// copy of the family; a series the workers already print is combined with the primary's value
// as the family combines workers. Families the workers print nothing for are appended whole.
import type { Aggregator } from 'prom-client';
import { COMPONENT_FAMILIES, mapKey, UNMAPPED_FAMILY } from './component-families.js';

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * A value of the primary combined with the workers' aggregate of the same series, as the family combines
 * workers: summed, the highest, the lowest, or — for an average — weighted as one more process beside the
 * `averaged` workers the aggregate stands for (before, an average was summed: two workers at 0.5 and a
 * primary at 0.3 read 0.8). `first` keeps the workers' value (their answers come first); `omit` has no sample
 * to combine with (prom-client prints none), so it keeps the workers' value too.
 */
function combine(aggregate: Aggregator, workers: number, primary: number, averaged: number): number {
  switch (aggregate) {
    case 'sum': return workers + primary;
    case 'max': return Math.max(workers, primary);
    case 'min': return Math.min(workers, primary);
    case 'average': return averaged > 0 ? (workers * averaged + primary) / (averaged + 1) : primary;
    case 'first':
    case 'omit': return workers;
    default: { const never: never = aggregate; return never; }
  }
}

/** Where the value of `series` (name and labels as written) starts in `text`, or -1 when it has no such sample. */
function valueAt(text: string, series: string): number {
  if (text.startsWith(`${series} `)) return series.length + 1;
  const i = text.indexOf(`\n${series} `);
  return i < 0 ? -1 : i + series.length + 2;
}

/**
 * Pure: `exposition` with `values` (`{ "component.name": value }`) added as samples of their families.
 * `averaged`: how many workers' answers the exposition aggregates (default 1), the weight of their value
 * in a family averaged over workers.
 */
export function mergeComponentValues(exposition: string, values: Readonly<Record<string, number>>, averaged = 1): string {
  const byFamily = new Map<string, string[]>();
  let text = exposition;
  for (const [key, raw] of Object.entries(values)) {
    const m = mapKey(key);
    if (m === 'elsewhere') continue;
    const dot = key.indexOf('.');
    const family = m === null ? UNMAPPED_FAMILY : m.family;
    const labels = m === null ? { component: dot > 0 ? key.slice(0, dot) : 'proxy', name: dot > 0 ? key.slice(dot + 1) : key } : m.labels;
    const value = m === null || raw < 0 ? raw : raw * m.scale;
    const names = Object.keys(labels);
    const series = `${family}${m === null ? '' : m.suffix}${names.length === 0 ? '' : `{${names.map((n) => `${n}="${escapeLabel(labels[n]!)}"`).join(',')}}`}`;
    // the workers print this series too: one sample of it (before: a second one, which Prometheus refuses)
    const v = valueAt(text, series);
    if (v >= 0) {
      const end = text.indexOf('\n', v);
      const stop = end < 0 ? text.length : end;
      text = `${text.slice(0, v)}${combine(COMPONENT_FAMILIES.get(family)?.aggregate ?? 'sum', Number(text.slice(v, stop)), value, averaged)}${text.slice(stop)}`;
      continue;
    }
    const sample = `${series} ${value}`;
    const list = byFamily.get(family) ?? [];
    list.push(sample);
    byFamily.set(family, list);
  }
  let out = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  for (const [family, samples] of byFamily) {
    const spec = COMPONENT_FAMILIES.get(family);
    const type = spec?.type ?? 'gauge';
    const typeLine = `# TYPE ${family} ${type}\n`;
    const at = out.indexOf(typeLine);
    if (at >= 0) {
      const end = at + typeLine.length;
      out = `${out.slice(0, end)}${samples.join('\n')}\n${out.slice(end)}`;
    } else {
      const help = spec?.help ?? 'Component values without a family in node/metrics/component-families.ts (a bug: report it); labels name the source key';
      out += `# HELP ${family} ${help}\n${typeLine}${samples.join('\n')}\n`;
    }
  }
  return out;
}
