// Results on disk and on screen: bench/results/<scenario>-<timestamp>.json and markdown tables.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsDir } from './paths.js';

/** `<scenario>-<UTC timestamp>.json`, e.g. passthrough-2025-11-28T20-47-01Z.json (no colons: portable file names). */
export function resultFileName(scenario: string, date: Date): string {
  const stamp = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
  return `${scenario}-${stamp}.json`;
}

/** Write `doc` as pretty JSON; returns the path. `dir` defaults to bench/results (created if missing). */
export function writeResults(scenario: string, doc: unknown, opts: { dir?: string; date?: Date } = {}): string {
  const dir = opts.dir ?? resultsDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, resultFileName(scenario, opts.date ?? new Date()));
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

export type Cell = string | number | null | undefined;

/** A cell as text: numbers with `digits` decimals (thousands unseparated, machine-parsable), missing as "—". */
export function cell(v: Cell, digits = 2): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '—';
  if (typeof v === 'number') return Number.isInteger(v) && digits === 0 ? String(v) : v.toFixed(digits);
  return v.replace(/\|/g, '\\|');
}

/** A GitHub-flavoured markdown table; numeric columns (every present cell a number) are right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[] = []): string {
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (numeric[i] === true ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${header.map((_, i) => r[i] ?? '').join(' | ')} |`),
  ];
  return lines.join('\n');
}
