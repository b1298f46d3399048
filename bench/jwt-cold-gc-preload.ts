// Preloaded into Portcullis by jwt-cold-account (NODE_OPTIONS=--import …): heap bytes allocated
// by the main thread and its GCs split by kind (scavenge, mark-compact, incremental marking),
// count and pause. Every SIGUSR2 writes one `{"coldGc":…}` line to stderr for the time since
// the previous signal and starts over; the bench signals around each measured run.
import { isMainThread } from 'node:worker_threads';
import { allocatedBytes, gcWindowsOnSignal } from './heap-alloc-preload.js';

/** GC count and summed pause (ms) of one kind. */
export interface GcKind { n: number; ms: number }

export interface ColdGcLine {
  coldGc: { bytes: number; scavenge: GcKind; markCompact: GcKind; incremental: GcKind; other: GcKind };
}

interface GcStat { gcType: string; cost: number; beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }

/** Pure: V8's gcType name → the bucket it is counted in. */
export function gcBucket(gcType: string): 'scavenge' | 'markCompact' | 'incremental' | 'other' {
  if (gcType === 'Scavenge' || gcType.startsWith('Minor')) return 'scavenge';
  if (gcType === 'MarkSweepCompact') return 'markCompact';
  if (gcType === 'IncrementalMarking') return 'incremental';
  return 'other';
}

/** Pure: the line for one period (GCProfiler costs are µs; pauses reported in ms). */
export function coldGcLine(startUsed: number, stats: readonly GcStat[], endUsed: number): ColdGcLine {
  const k = (): GcKind => ({ n: 0, ms: 0 });
  const out: ColdGcLine['coldGc'] = { bytes: allocatedBytes(startUsed, stats, endUsed), scavenge: k(), markCompact: k(), incremental: k(), other: k() };
  for (const s of stats) {
    const b = out[gcBucket(s.gcType)];
    b.n++;
    b.ms += s.cost / 1000;
  }
  return { coldGc: out };
}

/** Pure: the last `{"coldGc":…}` line of a process's output, or null. */
export function parseColdGc(output: string): ColdGcLine['coldGc'] | null {
  const line = output.split('\n').reverse().find((l) => l.startsWith('{"coldGc"'));
  return line === undefined ? null : (JSON.parse(line) as ColdGcLine).coldGc;
}

if (process.env.PORTCULLIS_BENCH_COLD_GC_PRELOAD === '1' && isMainThread) {
  gcWindowsOnSignal<GcStat>(coldGcLine);
}
