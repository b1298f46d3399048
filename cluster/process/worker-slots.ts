// What the node:cluster primary knows of each worker slot — the worker in it, its last verdicts,
// its exits in a row — with the restart policy (backoff, stable run, "cannot be restored") and the
// verdicts drawn from all slots: /healthz and per-issuer readiness.
import type { Worker } from 'node:cluster';
import type { Config } from '../../node/config/index.js';

/** Per-issuer readiness as /readyz reports it (node/auth readiness()). */
export type IssuerReadiness = Record<string, { keys: boolean; introspection: boolean | null }>;

export interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  /** Last worker.status verdict. */
  judging: boolean;
  /** Last per-issuer readiness the worker reported. */
  issuers: IssuerReadiness | null;
  /** Exits in a row without a stable run (drives the backoff and the /healthz verdict). */
  failures: number;
  /** When the current worker reported ready (monotonic ms, markReady), 0 while it boots. */
  readyAt: number;
  /** How the last worker of this slot ended, for /healthz and logs. */
  lastExit: string | null;
}

/** Restart delay: 100 ms doubling per failure in a row, capped at 10 s. */
export const RESTART_BACKOFF_MS = { initial: 100, max: 10_000 } as const;
/** A worker ready for this long (30 s) counts as a stable run: its slot's failure count restarts at 0. */
export const STABLE_RUN_MS = 30_000;
/**
 * After this many exits in a row (5) without a stable run, a slot with no ready worker counts as
 * "cannot be restored": /healthz answers 503 so an orchestrator replaces the process. The primary
 * keeps retrying at the capped backoff; /healthz recovers when a worker of that slot is ready again.
 */
export const UNRESTORABLE_AFTER = 5;

/** Delay before the restart that follows `failures` exits in a row (0-based). */
export function restartDelayMs(failures: number): number {
  return Math.min(RESTART_BACKOFF_MS.max, RESTART_BACKOFF_MS.initial * 2 ** Math.min(failures, 20));
}

/**
 * The slot's worker reported ready: its run is measured from now, on the monotonic clock. On Date.now() a wall clock
 * stepped back during a long run made it not count (backoff growing, /healthz 503 "could not be restored" for a healthy
 * instance), and one stepped forward excused a crash loop.
 */
export function markReady(slot: Slot, now = performance.now()): void {
  slot.ready = true;
  slot.readyAt = now;
}

/**
 * The slot's worker exited (`wasReady`: it had reported ready): counts the failure and returns the delay before its
 * restart; a run of STABLE_RUN_MS or more first restarts the count.
 */
export function exitDelayMs(slot: Slot, wasReady: boolean, now = performance.now()): number {
  if (wasReady && now - slot.readyAt >= STABLE_RUN_MS) slot.failures = 0;
  const delay = restartDelayMs(slot.failures);
  slot.failures++;
  return delay;
}

/** Slots that failed UNRESTORABLE_AFTER times in a row and have no ready worker now. */
export function unrestorable(slots: readonly Slot[]): Slot[] {
  return slots.filter((s) => s.failures >= UNRESTORABLE_AFTER && !s.ready);
}

/** /healthz: failing while a worker cannot be restored (the reason names it), else ok. */
export function slotHealth(slots: readonly Slot[]): { ok: boolean; detail: Record<string, unknown> } {
  const lost = unrestorable(slots);
  if (lost.length === 0) return { ok: true, detail: {} };
  const reason = lost.map((s) => `worker ${s.index} could not be restored: ${s.failures} exits in a row without a ${STABLE_RUN_MS / 1000} s stable run (last: ${s.lastExit ?? 'unknown'})`).join('; ');
  return { ok: false, detail: { reason, workers: slots.length, workers_ready: slots.filter((s) => s.ready).length } };
}

/** Per issuer: ready only when every worker has reported it ready (a worker not heard from yet counts as not ready). */
export function issuerReadiness(slots: readonly Slot[], config: Config): IssuerReadiness {
  const out: IssuerReadiness = {};
  const names = new Set(Object.keys(config.issuers));
  for (const s of slots) for (const n of Object.keys(s.issuers ?? {})) names.add(n);
  for (const name of names) {
    let keys = true;
    let introspection: boolean | null = null;
    for (const s of slots) {
      const r = s.issuers?.[name];
      if (r === undefined) { keys = false; continue; }
      keys &&= r.keys;
      if (r.introspection !== null) introspection = (introspection ?? true) && r.introspection;
    }
    out[name] = { keys, introspection };
  }
  return out;
}
