// Scheduler view of a process from /proc (Linux): per thread CPU time, time spent runnable but
// waiting for a CPU (schedstat), and involuntary context switches — what a shared core does to a
// process's latency, which its own event-loop timers cannot tell apart from its own work.
import { readdirSync, readFileSync } from 'node:fs';

/** Per thread: name, CPU ns (schedstat run time), runqueue wait ns, involuntary context switches. */
export interface ThreadStat { tid: number; comm: string; runNs: number; waitNs: number; nonvoluntary: number }

/** The threads of `pid` now; [] where /proc cannot tell (not Linux, process gone). */
export function threadStats(pid: number): ThreadStat[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map((t) => {
      const base = `/proc/${pid}/task/${t}`;
      const [run, wait] = readFileSync(`${base}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
      const status = readFileSync(`${base}/status`, 'utf8');
      const nonvoluntary = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return { tid: Number(t), comm: readFileSync(`${base}/comm`, 'utf8').trim(), runNs: run ?? 0, waitNs: wait ?? 0, nonvoluntary };
    });
  } catch {
    return [];
  }
}

/** Pure: what happened between two samples, per request: the main thread's CPU and runqueue wait (µs), its involuntary switches, and the other threads' CPU (µs) by name. */
export function schedDelta(pid: number, before: readonly ThreadStat[], after: readonly ThreadStat[], requests: number): string {
  if (before.length === 0 || after.length === 0 || requests === 0) return 'sched: —';
  const prev = new Map(before.map((t) => [t.tid, t]));
  let mainRun = 0, mainWait = 0, mainNv = 0;
  const others = new Map<string, number>();
  for (const t of after) {
    const p = prev.get(t.tid) ?? { runNs: 0, waitNs: 0, nonvoluntary: 0 };
    if (t.tid === pid) { mainRun = t.runNs - p.runNs; mainWait = t.waitNs - p.waitNs; mainNv = t.nonvoluntary - p.nonvoluntary; continue; }
    const d = t.runNs - p.runNs;
    if (d > 0) others.set(t.comm, (others.get(t.comm) ?? 0) + d);
  }
  const us = (ns: number): string => (ns / 1e3 / requests).toFixed(2);
  const other = [...others.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${us(v)}`).join(', ');
  return `sched per request: main thread CPU ${us(mainRun)} µs, waited for the CPU ${us(mainWait)} µs (total ${(mainWait / 1e6).toFixed(0)} ms), involuntary switches ${(mainNv / requests * 1000).toFixed(1)} per 1000 req; other threads CPU µs: ${other || 'none'}`;
}
