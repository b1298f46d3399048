// A `serve --workers N` worker's lease on its primary's revocation channel (worker-channel.ts): the
// worker judges tokens only while the newest message it has read from the channel was sent recently,
// so a worker that resumes after a stall holds its requests until it has read what queued meanwhile.
import { runNow } from '../../node/run-clock.js';
import { HeldRequests } from './held-requests.js';

/** How old (ms) the newest message read from the primary may be while requests are judged. */
export const LEASE_MS = 500;
/** How long (ms) a request waits for a fresh message before it is refused (503). */
export const LEASE_WAIT_MS = 1_000;
/** How often (ms) the primary sends a tick when it has nothing else to hand over. */
export const TICK_MS = 100;

/** ms on the host's monotonic clock (CLOCK_MONOTONIC: the same in every process of the host, never stepped). */
export function hostMonoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Fresh while the newest message read was sent within LEASE_MS. A request that finds it stale waits
 * (a promise, one shared timer) for the next message to be read — after a stall it is already in the
 * pipe — and is refused after LEASE_WAIT_MS (a primary that stopped sending: stopped, or stuck).
 */
export class PrimaryLease {
  /** performance.now() ms until which the state is fresh. */
  private freshUntil = Number.NEGATIVE_INFINITY;
  private readonly held: HeldRequests;

  constructor(private readonly leaseMs = LEASE_MS, waitMs = LEASE_WAIT_MS) {
    this.held = new HeldRequests(waitMs);
  }

  /** A message sent at `at` (hostMonoMs of the primary) was read and applied. */
  heard(at: number): void {
    const now = performance.now();
    const until = now + this.leaseMs - Math.max(0, hostMonoMs() - at);
    if (until > this.freshUntil) this.freshUntil = until;
    if (this.held.waiting > 0 && now <= this.freshUntil) this.held.release();
  }

  /** true while fresh (the request path: one compare); else a promise: true once fresh again, false when waiting is given up. */
  current(): true | Promise<boolean> {
    if (runNow() <= this.freshUntil) return true;
    return this.held.hold();
  }

  /** `revocations_primary_lease_waits_total` (requests that waited), `…_expired_total` (of those, refused). */
  stats(): Record<string, number> {
    return { revocations_primary_lease_waits_total: this.held.held, revocations_primary_lease_expired_total: this.held.expired };
  }

  /** Release every waiter (false) and stop the timer. */
  close(): void {
    this.held.refuseAll();
  }
}
