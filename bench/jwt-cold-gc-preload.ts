// Preloaded into Portcullis by jwt-cold-account (NODE_OPTIONS=--import …): heap bytes allocated
// by the main thread and its GCs split by kind (scavenge, mark-compact, incremental marking),
// count and pause, and what the scavenges kept (bytes left in new space + promoted to old space:
// the copying work, which unlike the pause does not depend on the machine's load). Every SIGUSR2 writes one `{"coldGc":…}` line to stderr for the time since
// the previous signal and starts over; the bench signals around each measured run.
import { isMainThread } from 'node:worker_threads';
import { allocatedBytes, gcWindowsOnSignal } from './heap-alloc-preload.js';

/** GC count and summed pause (ms) of one kind. */
export interface GcKind { n: number; ms: number }

export interface ColdGcLine {
  coldGc: {
    bytes: number; scavenge: GcKind; markCompact: GcKind; incremental: GcKind; other: GcKind;
    /** Summed over scavenges: bytes in new space after it + bytes it promoted to old space (absent from older lines). */
    survived?: number;
    /** The promoted part of `survived`. */
    promoted?: number;
  };
}

interface SpaceStat { spaceName: string; spaceUsedSize: number }
interface GcSide { heapStatistics: { usedHeapSize: number }; heapSpaceStatistics?: SpaceStat[] }
interface GcStat { gcType: string; cost: number; beforeGC: GcSide; afterGC: GcSide }

const used = (side: GcSide, space: string): number => side.heapSpaceStatistics?.find((x) => x.spaceName === space)?.spaceUsedSize ?? 0;

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
  const out: ColdGcLine['coldGc'] = { bytes: allocatedBytes(startUsed, stats, endUsed), scavenge: k(), markCompact: k(), incremental: k(), other: k(), survived: 0, promoted: 0 };
  for (const s of stats) {
    const kind = gcBucket(s.gcType);
    const b = out[kind];
    b.n++;
    b.ms += s.cost / 1000;
    if (kind === 'scavenge') {
      const promoted = Math.max(0, used(s.afterGC, 'old_space') - used(s.beforeGC, 'old_space'));
      out.promoted! += promoted;
      out.survived! += used(s.afterGC, 'new_space') + promoted;
    }
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
