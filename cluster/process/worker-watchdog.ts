// Whether each ready worker's event loop still turns: a worker sends worker.status every 500 ms,
// so one not heard from for 2 s is not ready (/readyz 503), and one silent for 10 s is killed so the
// supervisor restarts it — the connections the kernel hands it then close instead of hanging forever.
import type { Worker } from 'node:cluster';

/** Silence (ms) after which a worker is not ready, and after which it is killed; how often it is checked. */
export const WATCHDOG_MS = { notReadyAfter: 2_000, killAfter: 10_000, tick: 500 } as const;

/** Tracks when each worker was last heard from; calls `kill` for one silent past WATCHDOG_MS.killAfter. */
export class WorkerWatchdog {
  readonly #heard = new Map<Worker, number>();
  #lastTick = performance.now();
  #timer: NodeJS.Timeout | null = null;

  /** `kill`: the worker and how long (ms) it was silent; called once per worker. */
  constructor(private readonly kill: (w: Worker, silentMs: number) => void) {}

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
    if (late > WATCHDOG_MS.notReadyAfter / 2) {
      for (const w of this.#heard.keys()) this.#heard.set(w, now);
      return;
    }
    for (const [w, t] of this.#heard) {
      if (now - t <= WATCHDOG_MS.killAfter) continue;
      this.#heard.delete(w);
      this.kill(w, Math.round(now - t));
    }
  }
}
