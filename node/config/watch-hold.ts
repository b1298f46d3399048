// What `serve --watch` is waiting for now: a changed file that a process still holds open for writing.
// The watcher (config-watch.ts) writes it; /metrics (portcullis_config_reload_waiting_seconds) and the
// POST /reload answer read it, and an applied POST /reload (the operator's word) ends the wait.
import { performance } from 'node:perf_hooks';
import type { OpenWriter } from './open-writers.js';

/** A wait under way: who holds which file, since when (performance.now()). */
export interface WatchWait { readonly file: string; readonly pid: number; readonly since: number }

/** The wait of this process's `--watch` (one per process: only the single process or the `--workers` primary watches). */
export class WatchHold {
  #wait: WatchWait | null = null;
  /** performance.now() when the file was last read by a reload the operator asked for (POST /reload) and applied; 0 none. */
  #appliedAt = 0;

  /** The watcher found `w` holding a changed file (since `since`, kept across looks). */
  held(w: OpenWriter, since: number): void { this.#wait = { file: w.file, pid: w.pid, since }; }

  /** The watcher waits no more (the writer closed it, or the operator applied the file). */
  clear(): void { this.#wait = null; }

  /** The wait under way, or null. */
  get wait(): WatchWait | null { return this.#wait; }

  /** Seconds the current wait has lasted; 0 when none. */
  waitingSeconds(now = performance.now()): number {
    return this.#wait === null ? 0 : Math.max(0, (now - this.#wait.since) / 1000);
  }

  /** A POST /reload that read the file at `readAt` (performance.now()) applied it: a wait for changes seen before then ends. */
  operatorApplied(readAt: number): void { this.#appliedAt = Math.max(this.#appliedAt, readAt); }

  /** When the file was last read by an applied POST /reload (performance.now()); 0 none. */
  get appliedAt(): number { return this.#appliedAt; }

  /** Component values for /metrics (node/metrics/component-families.ts). */
  values(): Record<string, number> {
    return { 'config.reload_waiting_seconds': Math.round(this.waitingSeconds() * 10) / 10 };
  }
}

/** This process's `--watch` wait (read also where no watcher runs: then never held). */
export const watchHold = new WatchHold();
