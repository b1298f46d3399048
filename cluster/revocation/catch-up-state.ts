// Where a member stands with the cluster's revocations: its phase, where its state came from, and since when
// it is behind — and the answers the gate, /readyz and `cluster.fail_closed_after_ms` read from that. The
// revocation actor (revocation-actor.ts) is its only writer, from its mailbox.
import { moment, msSince, type Moment } from './revocation-time.js';
import type { Phase, RevocationMode, RevocationSource } from './revocation-actor-contract.js';

/** The actor's standing; fields are written by the actor's mailbox only. Moments: epoch ms pinned to the monotonic clock too — a wall clock stepped back never shortens msSince. */
export class CatchUpState {
  phase: Phase = 'starting';
  /** The running catch-up outlived `catchUpTimeoutMs`: the member serves degraded meanwhile (if it has state). */
  catchUpTimedOut = false;
  disconnectedAt: Moment = moment();
  /** Since when the stream has not answered over a live connection (null: it answers). */
  streamLostSince: Moment | null = null;
  /** A `serve --workers` worker without a complete sync from its primary (at start, after an overflow): not caught up. */
  awaitingPrimary: boolean;
  source: RevocationSource = 'none';
  /** When the loaded snapshot's state was last known caught up, epoch ms. */
  snapshotAsOf: number | null = null;
  /** The last moment this member was known caught up with the cluster (while live: now). */
  lastCaughtUpAt: Moment | null = null;

  constructor(private readonly mode: RevocationMode, fromPrimary: boolean, private readonly busConnected: () => boolean) {
    this.awaitingPrimary = fromPrimary;
  }

  /** A snapshot whose state was caught up at `asOf` (epoch ms) was loaded: the member has state from it. */
  snapshotLoaded(asOf: number): void {
    this.source = 'snapshot';
    this.snapshotAsOf = asOf;
    this.lastCaughtUpAt = moment(asOf);
  }

  /** The bus (re)connected: a catch-up begins; a live member was caught up until now (or its stream's last answer). */
  connected(): void {
    if (this.phase === 'live') this.lastCaughtUpAt = this.streamLostSince ?? moment();
    this.phase = 'catching_up';
    this.catchUpTimedOut = false;
  }

  /** The stream stopped answering over a live connection at `sinceMs` (epoch ms): kept from its first report until it answers again. */
  streamUnreachable(sinceMs: number): void {
    this.streamLostSince ??= moment(sinceMs);
  }

  /** The bus dropped: offline (once started); a stream already unreachable before the connection dropped: stale since then, not since now. */
  disconnected(): void {
    this.disconnectedAt = this.streamLostSince ?? moment();
    if (this.phase === 'live') this.lastCaughtUpAt = this.disconnectedAt;
    this.streamLostSince = null;
    if (this.phase !== 'starting') this.phase = 'offline';
  }

  /** Caught up: live, the state now the mode's own. Returns the phase it left. */
  live(): Phase {
    const was = this.phase;
    this.phase = 'live';
    this.catchUpTimedOut = false;
    this.lastCaughtUpAt = moment();
    this.source = this.mode === 'nats' ? 'stream' : this.mode === 'ipc-worker' ? 'primary' : 'local';
    this.snapshotAsOf = null;
    return was;
  }

  /**
   * False while a replay or catch-up is running, and always before the first replay (unless a
   * snapshot was loaded): requests must wait (the gate answers 503).
   */
  caughtUp(): boolean {
    if (this.source === 'none' || this.awaitingPrimary) return false;
    return this.phase === 'live' || this.phase === 'offline' || (this.phase === 'catching_up' && this.catchUpTimedOut);
  }

  /** Age of the loaded snapshot's state while the member serves from it, ms; null otherwise. */
  snapshotAgeMs(): number | null {
    return this.source === 'snapshot' && this.snapshotAsOf !== null ? Date.now() - this.snapshotAsOf : null;
  }

  /** The last moment the member was known caught up (now while live), epoch ms; null: never. */
  caughtUpAt(): number | null {
    return this.phase === 'live' ? this.streamLostSince?.at ?? Date.now() : this.lastCaughtUpAt?.at ?? null;
  }

  /** How long since the member was last known caught up, ms (0 while live): what `cluster.fail_closed_after_ms` bounds. */
  behindMs(): number {
    // live but the stream out of reach (connected to a server cut off from its quorum): behind since its last answer
    if (this.phase === 'live') return this.streamLostSince === null ? 0 : msSince(this.streamLostSince);
    return this.lastCaughtUpAt === null ? Number.POSITIVE_INFINITY : msSince(this.lastCaughtUpAt);
  }

  /** True when serving on local state only: bus down, stream unreachable, or a replay that could not finish. */
  degraded(): boolean {
    if (this.mode === 'local' || this.mode === 'ipc-hub') return false;
    return this.phase !== 'live' || this.streamLostSince !== null;
  }

  /**
   * Milliseconds the cluster's revocations have been out of reach (0 while connected and the
   * stream answers): the bus is down, or connected to a server cut off from the stream's
   * quorum (counted from the stream's last answer). For `cluster.fail_closed_after_ms`.
   */
  disconnectedForMs(): number {
    if (!this.busConnected()) return msSince(this.disconnectedAt);
    return this.streamLostSince === null ? 0 : msSince(this.streamLostSince);
  }
}
