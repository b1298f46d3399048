// Reading Prometheus text back (tests, benchmarks, tools): samples as name, labels and value,
// and the components' flat keys recovered through the family table.
import { mapKey, unmapSample, type KeyMapping } from './component-families.js';

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample `name` with exactly `labels`; NaN when absent. */
export function sampleValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const want = Object.entries(labels);
  const hit = parseExposition(text).find((s) => s.name === name && want.every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === want.length);
  return hit === undefined ? Number.NaN : hit.value;
}

/** The sample a component's flat key (`websocket.upgrades_total`) is exported as, in the family's unit; NaN when absent or unmapped. */
export function sourceValue(text: string, key: string): number {
  const m = mapKey(key);
  if (m === null || m === 'elsewhere') return Number.NaN;
  const v = sampleValue(text, m.family + m.suffix, m.labels);
  return v < 0 ? v : v / m.scale;
}

/** `{ name: value }` for every sample of `component` (keys without the `component.` prefix), in the component's own units. */
export function sourceValues(text: string, component: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of parseExposition(text)) {
    const key = unmapSample(s.name, s.labels);
    if (key === null || !key.startsWith(`${component}.`)) continue;
    const m = mapKey(key) as KeyMapping;
    out[key.slice(component.length + 1)] = s.value < 0 ? s.value : round(s.value / m.scale);
  }
  return out;
}

const round = (x: number): number => Math.round(x * 1e9) / 1e9;
