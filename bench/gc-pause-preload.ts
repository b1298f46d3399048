// Preloaded into the proxies of scenario tail-peer (NODE_OPTIONS=--import …): records GC pauses by
// kind (PerformanceObserver 'gc') and nothing else — no timer, so an idle process stays asleep
// (loop-delay-preload.ts's 10 ms monitor wakes every process 100 times a second, which is what the
// fixed-rate tail is measured against). Every SIGUSR2 writes one `{"gcPauses":…}` line to stderr
// for the time since the previous one (with each pause ≥ 0.2 ms stamped in epoch ms, so scenario
// tail-pair can line pauses up with its latency windows) and starts over.
import { writeSync } from 'node:fs';
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

/** One window: pauses per kind (minor = scavenge, major = mark-compact, incremental, weakcb), ms. */
export interface GcPausesLine {
  /** newSpaceMB: the young generation's capacity at the end of the window (V8 shrinks it after idle; each scavenge frees at most this). */
  gcPauses: { pid: number; minor: GcKind; major: GcKind; other: GcKind; newSpaceMB: number; pauses?: Array<[atEpochMs: number, durationMs: number]> };
}
export interface GcKind { count: number; totalMs: number; maxMs: number }

/** Pure: every `{"gcPauses":…}` line of a process's output, oldest first. */
export function parseGcPauses(output: string): Array<GcPausesLine['gcPauses']> {
  return output.split('\n').filter((l) => l.startsWith('{"gcPauses"')).map((l) => (JSON.parse(l) as GcPausesLine).gcPauses);
}

if (process.env.PORTCULLIS_BENCH_GC_PRELOAD === '1') {
  const zero = (): GcKind => ({ count: 0, totalMs: 0, maxMs: 0 });
  let w = { minor: zero(), major: zero(), other: zero() };
  // the window's pauses of at least 0.2 ms, epoch ms (timeOrigin + start) and duration; capped so a long window stays one line
  let pauses: Array<[number, number]> = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      const kind = e.detail?.kind;
      const k = kind === constants.NODE_PERFORMANCE_GC_MINOR ? w.minor : kind === constants.NODE_PERFORMANCE_GC_MAJOR ? w.major : w.other;
      k.count++; k.totalMs += e.duration; k.maxMs = Math.max(k.maxMs, e.duration);
      if (e.duration >= 0.2 && pauses.length < 5000) pauses.push([Math.round((performance.timeOrigin + e.startTime) * 1e3) / 1e3, Math.round(e.duration * 1e3) / 1e3]);
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    const r = (k: GcKind): GcKind => ({ count: k.count, totalMs: Math.round(k.totalMs * 1e3) / 1e3, maxMs: Math.round(k.maxMs * 1e3) / 1e3 });
    const ns = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    const line: GcPausesLine = { gcPauses: { pid: process.pid, minor: r(w.minor), major: r(w.major), other: r(w.other), newSpaceMB: ns === undefined ? -1 : Math.round(ns.space_size / 1e5) / 10, pauses } };
    try { writeSync(2, JSON.stringify(line) + '\n'); } catch { /* stderr gone */ }
    w = { minor: zero(), major: zero(), other: zero() };
    pauses = [];
  });
}
