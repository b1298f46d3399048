// Preloaded into Portcullis by `build-compare` (NODE_OPTIONS=--import …): heap bytes the main
// thread allocates, which unlike CPU time does not change when other processes load the machine.
// v8.GCProfiler reports the used heap before and after every GC; allocated = Σ (used before a GC
// − used after the previous one) + what is in use at the end beyond the last GC. Every SIGUSR2
// writes one `{"heapAlloc":…}` line to stderr for the time since the previous signal and starts
// over: the bench signals around a measured run and reads the last line.
import { writeSync } from 'node:fs';
import v8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';

export interface HeapAllocLine {
  /** scavenge: count, summed and longest pause (ms), bytes promoted (old space grown across scavenges). */
  heapAlloc: { bytes: number; gcs: number; gcMs: number; scavenge?: { n: number; ms: number; maxMs: number; promoted: number } };
}

/** Pure: the last `{"heapAlloc":…}` line of a process's output, or null. */
export function parseHeapAlloc(output: string): HeapAllocLine['heapAlloc'] | null {
  const line = output.split('\n').reverse().find((l) => l.startsWith('{"heapAlloc"'));
  return line === undefined ? null : (JSON.parse(line) as HeapAllocLine).heapAlloc;
}

interface SpaceStat { spaceName: string; spaceUsedSize: number }
interface GcStat { gcType?: string; cost: number; beforeGC: { heapStatistics: { usedHeapSize: number }; heapSpaceStatistics?: SpaceStat[] }; afterGC: { heapStatistics: { usedHeapSize: number }; heapSpaceStatistics?: SpaceStat[] } }

const oldUsed = (spaces: readonly SpaceStat[] | undefined): number => {
  let n = 0;
  for (const s of spaces ?? []) if (s.spaceName === 'old_space') n += s.spaceUsedSize;
  return n;
};

/** Pure: the scavenges of a window — count, pause ms (summed, longest) and bytes they promoted to old space. */
export function scavengeStats(gcs: readonly GcStat[]): { n: number; ms: number; maxMs: number; promoted: number } {
  const out = { n: 0, ms: 0, maxMs: 0, promoted: 0 };
  for (const s of gcs) {
    if (s.gcType !== 'Scavenge' && s.gcType?.startsWith('Minor') !== true) continue;
    out.n++;
    out.ms += s.cost / 1000;
    out.maxMs = Math.max(out.maxMs, s.cost / 1000);
    out.promoted += Math.max(0, oldUsed(s.afterGC.heapSpaceStatistics) - oldUsed(s.beforeGC.heapSpaceStatistics));
  }
  return out;
}

/** Pure: bytes allocated between `startUsed` and `endUsed` given the GCs in between. */
export function allocatedBytes(startUsed: number, gcs: readonly GcStat[], endUsed: number): number {
  let bytes = 0;
  let prev = startUsed;
  for (const s of gcs) {
    bytes += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prev);
    prev = s.afterGC.heapStatistics.usedHeapSize;
  }
  return bytes + Math.max(0, endUsed - prev);
}

/**
 * Profile the main thread's GCs in windows: every SIGUSR2 writes `line(startUsed, gcs, endUsed)` as
 * one JSON line to stderr for the window since the previous signal (or the start) and opens the next.
 */
export function gcWindowsOnSignal<G extends { beforeGC: unknown }>(line: (startUsed: number, gcs: G[], endUsed: number) => object): void {
  type Profiler = { start(): void; stop(): { statistics: G[] } };
  const Ctor = (v8 as unknown as { GCProfiler: new () => Profiler }).GCProfiler;
  let profiler = new Ctor();
  let startUsed = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  process.on('SIGUSR2', () => {
    const endUsed = v8.getHeapStatistics().used_heap_size;
    const out = line(startUsed, profiler.stop().statistics, endUsed);
    try { writeSync(2, JSON.stringify(out) + '\n'); } catch { /* stderr gone */ }
    profiler = new Ctor();
    startUsed = v8.getHeapStatistics().used_heap_size;
    profiler.start();
  });
}

if (process.env.PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD === '1' && isMainThread) {
  gcWindowsOnSignal<GcStat>((startUsed, stats, endUsed): HeapAllocLine => ({
    heapAlloc: { bytes: allocatedBytes(startUsed, stats, endUsed), gcs: stats.length, gcMs: Math.round(stats.reduce((a, s) => a + s.cost, 0)) / 1000, scavenge: scavengeStats(stats) },
  }));
}

/** Pure: "heap B/req · scavenges n (ms summed, longest) promoted KiB/scavenge" for a report line; '?' parts when absent. */
export function heapNote(h: HeapAllocLine['heapAlloc'] | null, requests: number): string {
  if (h === null || requests <= 0) return 'heap ?';
  const s = h.scavenge;
  const sc = s === undefined ? '' : ` · scavenges ${s.n} (${s.ms.toFixed(1)} ms, longest ${s.maxMs.toFixed(1)}) promoted ${s.n > 0 ? (s.promoted / s.n / 1024).toFixed(1) : '0'} KiB/scavenge`;
  return `heap ${(h.bytes / requests).toFixed(0)} B/req${sc}`;
}
