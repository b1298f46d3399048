// Top self-time functions of a V8 CPU profile (`node --cpu-prof`): what limits a bench number.
// `node dist/bench/profile-top.js FILE.cpuprofile [N]` prints a markdown table. Set
// PORTCULLIS_BENCH_CPU_PROF_DIR=DIR for a bench run to have Portcullis write its profiles there.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { cell, markdownTable } from './results.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  /** `name (file:line)`; V8's pseudo-frames as they are: (garbage collector), (program), (idle). */
  frame: string;
  ms: number;
  /** Share of the non-idle time, 0…1. */
  share: number;
}

/** Pure: self time per function (same name, file and line merged), largest first; idle left out of the shares. */
export function selfTimes(p: CpuProfile): SelfTime[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const us = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!);
    if (n === undefined) continue;
    const f = n.callFrame;
    const file = f.url === '' ? '' : f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, '');
    const key = file === '' ? (f.functionName || '(anonymous)') : `${f.functionName || '(anonymous)'} (${file}:${f.lineNumber + 1})`;
    us.set(key, (us.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const busy = [...us].filter(([k]) => k !== '(idle)').reduce((s, [, v]) => s + v, 0);
  return [...us].filter(([k]) => k !== '(idle)').map(([frame, v]) => ({ frame, ms: v / 1000, share: busy > 0 ? v / busy : 0 })).sort((a, b) => b.ms - a.ms);
}

/** Pure: the top `n` as a markdown table. */
export function selfTimeTable(rows: readonly SelfTime[], n = 10): string {
  return markdownTable(['function (self time)', 'ms', '% of busy'], rows.slice(0, n).map((r) => [cell(r.frame), cell(r.ms, 0), cell(r.share * 100, 1)]), [false, true, true]);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, n] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-top.js FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  process.stdout.write(selfTimeTable(rows, Number(n ?? 15)) + '\n');
}
