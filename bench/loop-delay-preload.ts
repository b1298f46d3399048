// Preloaded into the proxies of the cluster scenarios (NODE_OPTIONS=--import …): samples the
// process's event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution so the probe
// itself does not keep an idle loop awake) and its GC pauses (PerformanceObserver 'gc'). Every
// SIGUSR2 writes one `{"loopDelay":…}` line to stderr for the time since the previous one (or
// since start) and starts over: the bench signals at the start and at the end of its window and
// reads the last line, so neither start-up nor shutdown is counted. The histogram holds whole
// timer intervals, so the resolution is subtracted: the values are how late the loop was.
// Optional: PORTCULLIS_BENCH_WINDOW_CPU_PROF=<dir> (a CPU profile of the window) and
// PORTCULLIS_BENCH_GC_LOG=<dir> (every GC pause, written at exit) — see bench/RESULTS.md 2026-12-04 13:38.
import { appendFileSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/** The line written at exit; milliseconds. */
export interface LoopDelayLine {
  loopDelay: {
    p50: number; p99: number; p999: number; max: number; mean: number; count: number;
    /** GC pauses in the window: how many, their sum and the longest, ms. */
    gc: { count: number; totalMs: number; maxMs: number };
  };
}

/** Pure: the last `{"loopDelay":…}` line of a process's output, or null. */
export function parseLoopDelay(output: string): LoopDelayLine['loopDelay'] | null {
  const line = output.split('\n').reverse().find((l) => l.startsWith('{"loopDelay"'));
  return line === undefined ? null : (JSON.parse(line) as LoopDelayLine).loopDelay;
}

const PRELOADED = process.env.PORTCULLIS_BENCH_LOOP_DELAY_PRELOAD === '1';
if (PRELOADED) {
  const RESOLUTION_MS = 10;
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const gc = { count: 0, totalMs: 0, maxMs: 0 };
  // PORTCULLIS_BENCH_GC_LOG=<dir>: also every pause as a line (start ms since boot, duration, V8 kind) to <dir>/gc-<pid>.log
  const gcLog = process.env.PORTCULLIS_BENCH_GC_LOG;
  const gcLines: string[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++; gc.totalMs += e.duration; gc.maxMs = Math.max(gc.maxMs, e.duration);
      if (gcLog !== undefined) gcLines.push(`${e.startTime.toFixed(3)} ${e.duration.toFixed(3)} ${(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1}`);
    }
  }).observe({ entryTypes: ['gc'] });
  if (gcLog !== undefined) process.on('exit', () => { try { appendFileSync(`${gcLog}/gc-${process.pid}.log`, gcLines.join('\n') + '\n'); } catch { /* best effort */ } });
  // PORTCULLIS_BENCH_WINDOW_CPU_PROF=<dir>: a V8 CPU profile of the measured window (first SIGUSR2 → the next) to <dir>/CPU.<pid>.cpuprofile
  const profDir = process.env.PORTCULLIS_BENCH_WINDOW_CPU_PROF;
  let signals = 0;
  let session: import('node:inspector').Session | null = null;
  if (profDir !== undefined) {
    void import('node:inspector').then((inspector) => {
      process.on('SIGUSR2', () => {
        signals++;
        if (signals === 1) {
          session = new inspector.Session();
          session.connect();
          session.post('Profiler.enable', () => session!.post('Profiler.setSamplingInterval', { interval: 200 }, () => session!.post('Profiler.start')));
        } else if (signals === 2 && session !== null) {
          session.post('Profiler.stop', (err, r) => { if (err === null) appendFileSync(`${profDir}/CPU.${process.pid}.cpuprofile`, JSON.stringify(r.profile)); });
        }
      });
    });
  }
  process.on('SIGUSR2', () => {
    const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e3) / 1e3 - RESOLUTION_MS);
    const line: LoopDelayLine = { loopDelay: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.max), mean: ms(h.mean), count: h.count, gc: { count: gc.count, totalMs: Math.round(gc.totalMs * 1e3) / 1e3, maxMs: Math.round(gc.maxMs * 1e3) / 1e3 } } };
    try { writeSync(2, JSON.stringify(line) + '\n'); } catch { /* stderr gone */ }
    h.reset();
    gc.count = 0; gc.totalMs = 0; gc.maxMs = 0;
  });
}
