// The README's Metrics tables as data (family → type, labels, `--workers` only), and the same
// facts read from a real scrape: what the tests comparing the two share.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proxy-process.js';

export interface DocumentedFamily { type: string; labels: string[]; workersOnly: boolean }

/** Every `| \`portcullis_…\` | type | labels | meaning |` row of README "## Metrics". */
export function readmeFamilies(): Map<string, DocumentedFamily> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Metrics\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const out = new Map<string, DocumentedFamily>();
  for (const m of section.matchAll(/^\| `(portcullis_[a-z0-9_]+)` \| (counter|gauge|histogram) \| ([^|]*) \| ([^\n]*)$/gm)) {
    const labels = [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!).sort();
    out.set(m[1]!, { type: m[2]!, labels, workersOnly: m[4]!.startsWith('(`--workers`)') });
  }
  return out;
}

/** Family → label names seen on its samples in Prometheus text (`le` and `_bucket/_sum/_count` folded into the histogram). */
export function scrapedLabels(text: string, types: Map<string, string>): Map<string, string[]> {
  const seen = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9_]+)(?:\{(.*)\})? /.exec(line);
    if (m === null) continue;
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    const family = types.get(base) === 'histogram' ? base : m[1]!;
    const set = seen.get(family) ?? new Set<string>();
    seen.set(family, set);
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (l[1] !== 'le') set.add(l[1]!);
  }
  return new Map([...seen].map(([k, v]) => [k, [...v].sort()]));
}
