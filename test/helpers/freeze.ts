// Freezing a child process for a test (SIGSTOP) and knowing it is frozen: kill() returns when the
// signal is queued, and the other threads of a multi-threaded process (nats-server's Go runtime)
// keep running — answering requests — until the one thread that took the signal is scheduled.
import { readdirSync, readFileSync } from 'node:fs';

const FROZEN_WITHIN_MS = 5_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** The scheduler state letter of every thread of `pid` (R, S, D, T, t, Z…); empty when it is gone. */
function threadStates(pid: number): string[] {
  let tasks: string[];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return []; }
  const states: string[] = [];
  for (const t of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'latin1');
      states.push(stat.charAt(stat.lastIndexOf(')') + 2));
    } catch { /* the thread ended meanwhile */ }
  }
  return states;
}

/**
 * SIGSTOP `pid` and return only once every one of its threads is stopped (state T), so that nothing
 * the test sends afterwards is answered. Throws after 5 s with the states seen.
 */
export function freezeProcess(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  const until = Date.now() + FROZEN_WITHIN_MS;
  for (;;) {
    const states = threadStates(pid);
    if (states.length > 0 && states.every((s) => s === 'T' || s === 't')) return;
    if (states.length === 0) throw new Error(`freezeProcess: process ${pid} is gone`);
    if (Date.now() > until) throw new Error(`freezeProcess: process ${pid} not stopped after ${FROZEN_WITHIN_MS} ms (thread states ${states.join('')})`);
    Atomics.wait(pause, 0, 0, 2); // 2 ms, synchronously: pause() callers expect a frozen process on return
  }
}
