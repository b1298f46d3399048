// Whether each ready worker's event loop still turns: a worker sends worker.status every 500 ms,
// so one not heard from for 2 s is not ready (/readyz 503), and one silent for server.worker_silence_kill_ms is killed so the
// supervisor restarts it — the connections the kernel hands it then close instead of hanging forever.
import type { Worker } from 'node:cluster';
import type { Logger } from '../../node/log.js';

/**
 * Silence (ms) after which a worker is not ready, and how often it is checked. The silence after which
 * it is killed is server.worker_silence_kill_ms (default 30 s; a reload parsing a 2 MiB config blocks a loop ~8 s).
 */
export const WATCHDOG_MS = { notReadyAfter: 2_000, tick: 500 } as const;

/** Tracks when each worker was last heard from; SIGKILLs one silent past `killAfterMs` (its exit restarts it). */
export class WorkerWatchdog {
  readonly #heard = new Map<Worker, number>();
  #lastTick = performance.now();
  #timer: NodeJS.Timeout | null = null;

  /** `hold`: true while silence is expected (a reload being applied, the process stopping): nobody is judged. */
  constructor(private readonly logger: Logger, private readonly hold: () => boolean, private readonly killAfterMs: number) {}

  /** Any message from `w` (it is ready and its loop turns). */
  heard(w: Worker): void {
    this.#heard.set(w, performance.now());
  }

  /** `w` exited: no longer watched. */
  forget(w: Worker): void {
    this.#heard.delete(w);
  }

  /** False while `w` has been silent past WATCHDOG_MS.notReadyAfter (a worker not watched yet counts as responsive). */
  responsive(w: Worker | null): boolean {
    const t = w === null ? undefined : this.#heard.get(w);
    return t === undefined || performance.now() - t <= WATCHDOG_MS.notReadyAfter;
  }

  /** Workers silent past WATCHDOG_MS.notReadyAfter. */
  silent(): Worker[] {
    return [...this.#heard.keys()].filter((w) => !this.responsive(w));
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), WATCHDOG_MS.tick).unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    const now = performance.now();
    const late = now - this.#lastTick - WATCHDOG_MS.tick;
    this.#lastTick = now;
    // the primary's own loop was stalled: the workers' messages wait in its IPC queue — not their fault
    if (late > WATCHDOG_MS.notReadyAfter / 2 || this.hold()) {
      for (const w of this.#heard.keys()) this.#heard.set(w, now);
      return;
    }
    for (const [w, t] of this.#heard) {
      if (now - t <= this.killAfterMs) continue;
      this.#heard.delete(w);
      this.logger.error({ worker_pid: w.process.pid, silent_ms: Math.round(now - t) }, 'worker silent (event loop stuck): killing it to restart it');
      w.process.kill('SIGKILL');
    }
  }
}
