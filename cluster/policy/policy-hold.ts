// When requests on auth routes wait (503 `catching_up`) for the cluster policy instead of being
// judged by a version that may be outdated: after a reconnect while the bucket holds a revision
// not looked at yet; while the member's bus is back but the policy connection is not; and, with
// `cluster.fail_closed_after_ms`, while the bucket's stream leader has been silent longer than
// that (a member cut off from the others) — until it answers and any newer version is applied.
// Every time here is monotonic ms (performance.now): a wall-clock step must not end or stretch a hold.

/** The revision a reconnect waits for before the bucket is read: "a version may have been missed", none known yet. */
export const UNREAD_REVISION = Number.MAX_SAFE_INTEGER;

export class PolicyHold {
  /** Since when the member's bus is connected while the policy connection is not. */
  private mismatchSince: number | null = null;
  /** The revision found in the bucket that is not handled yet, since when, and whether the wait ends at the catch-up timeout. */
  private behind: { revision: number; since: number; bounded: boolean } | null = null;
  /** The last moment the active version was known to be the bucket's latest (the leader answered), monotonic ms. */
  private confirmedAt = performance.now();
  /** Called when the hold may have started or ended (workers are told at once). */
  onChange: (() => void) | null = null;

  constructor(private readonly catchUpTimeoutMs: number, private readonly failClosedAfterMs: number | null) {}

  /** The leader answered: what this member runs was current `silentMs` ago at the latest. Returns whether it had been cut off (silent past the limit). */
  leaderAnswered(silentMs: number): boolean {
    this.confirmedAt = performance.now();
    const cutOff = this.failClosedAfterMs !== null && silentMs > this.failClosedAfterMs;
    this.onChange?.();
    return cutOff;
  }

  /**
   * Hold until `revision` is handled, counted from `since`: at most the catch-up timeout, or —
   * `bounded` false, after a cut-off past fail_closed_after_ms — until it is (like revocations:
   * past that limit a member answers 503 until it has caught up, however long that takes).
   */
  waitFor(revision: number, since = performance.now(), bounded = true): void {
    this.behind = { revision, since, bounded };
    this.onChange?.();
  }

  /** Since when the current wait started (a reconnect's), or null. */
  waitingSince(): number | null {
    return this.behind?.since ?? null;
  }

  /** Nothing newer in the bucket. */
  release(): void {
    this.behind = null;
    this.onChange?.();
  }

  /** Revision `handled` was looked at (applied, refused or ignored). */
  handled(handled: number): void {
    if (this.behind !== null && handled >= this.behind.revision) this.release();
  }

  /**
   * Do auth routes wait? `ours`: the policy connection is up; `bus`: the member's bus connection
   * is; `handled`: the highest revision looked at; `probing`: the leader is asked (a bucket is open).
   */
  holding(ours: boolean, bus: boolean, handled: number, probing: boolean): boolean {
    const now = performance.now();
    // the member's bus connection is back but ours is not yet: a newer version may be waiting
    if (bus && !ours) {
      this.mismatchSince ??= now;
      if (now - this.mismatchSince <= this.catchUpTimeoutMs) return true;
    } else this.mismatchSince = null;
    // fail closed: nobody has confirmed this version for longer than the limit
    if (probing && this.failClosedAfterMs !== null && now - this.confirmedAt > this.failClosedAfterMs) return true;
    const b = this.behind;
    if (b === null) return false;
    // both connections down again before the bucket was read (a reconnect to a server that stopped at once, as in a
    // rolling NATS stop): nothing newer is known, so serve the active version as the revocations do while the bus is
    // lost — fail_closed_after_ms above still applies. Before, the reconnect's wait held every auth route 503 for the
    // catch-up timeout while /readyz said 200. A revision read as newer still holds (bounded): it is known to exist.
    if (b.bounded && !ours && !bus && b.revision === UNREAD_REVISION) return false;
    if (b.bounded && now - b.since > this.catchUpTimeoutMs) return false;
    return b.revision > handled;
  }

  /** How long since the leader last confirmed the active version, ms. */
  unconfirmedMs(): number {
    return performance.now() - this.confirmedAt;
  }
}
