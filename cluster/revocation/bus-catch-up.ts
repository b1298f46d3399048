// A NATS member's guard against judging on its bus state from before a stall of its own event loop (SIGSTOP,
// a blocked loop): a coarse timer records when the loop last turned, and after a turn over 500 ms late requests
// wait for one shared catch-up — a NATS round trip, then the revocation stream read up to its last sequence.
import { runNow } from '../../node/run-clock.js';
import { HeldRequests } from './held-requests.js';

/** How often (ms) the loop's turn is recorded. */
export const TURN_MS = 100;
/** A loop that did not turn for longer than this (ms) stalled: requests wait until the member caught up with the bus. */
export const STALL_MS = 500;
/** How long (ms) a request waits for the catch-up before it is refused (503), as the worker lease. */
export const CATCH_UP_WAIT_MS = 1_000;
/** While a catch-up waits for the stream consumer to reach the stream's last sequence: look this often, ms. */
const APPLIED_POLL_MS = 5;
/** While a catch-up waits for the link to come back: look this often, ms. */
const RECONNECT_POLL_MS = 20;
/**
 * The stream's answer is given up this long (ms) before the catch-up's wait ends, so a stream that does not answer
 * (its leader died, an election: JetStream's API times out after 2 s) counts as not answering while the held
 * requests still wait (their shared expiry timer looks every 50 ms).
 */
const STREAM_ANSWER_MARGIN_MS = 150;

/** What the catch-up needs from the member (ClusterNode wires the NATS transport and the revocation actor). */
export interface BusCatchUpSource {
  /** Is the NATS connection up (subscriptions held by the server)? */
  connected(): boolean;
  /**
   * PING/PONG on the connection: true once the PONG was read on the same link. Everything the server queued
   * for this connection before it was dispatched first — the subscriptions are callbacks: applied too.
   */
  roundTrip(): Promise<boolean>;
  /** The revocation stream's last sequence now, 0 when it holds no message; null when the stream does not answer (no quorum: the documented partition case). */
  streamLastSeq(): Promise<number | null>;
  /** Stream sequence of the last revocation the member's consumer applied. */
  appliedSeq(): number;
}

/** The stream's last sequence, or null when it gave no answer within `ms` (as when it answers without a quorum). */
function streamAnswer(asked: Promise<number | null>, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => { timer = setTimeout(() => r(null), Math.max(0, ms)); timer.unref(); });
  return Promise.race([asked, late]).finally(() => clearTimeout(timer));
}

/** A poll's pause: unref'd, so a catch-up in flight never keeps a closing process alive. */
function pause(ms: number): Promise<void> {
  return new Promise((r) => { setTimeout(r, ms).unref(); });
}

/**
 * Current unless the loop stalled. The record is read by the request path (one compare on the run's clock
 * reading) and by the timer itself (a turn that comes late: libuv runs timers before I/O when a stop
 * interrupted its poll), so whichever runs first after a stall, no request is judged before the catch-up.
 * A member off the bus is not held (it serves on its local state, cluster.fail_closed_after_ms aside).
 */
export class BusCatchUp {
  private lastTurn = performance.now();
  /** A stall was seen and the member has not caught up since. */
  private behind = false;
  private running = false;
  /** close() was called: a catch-up in flight ends at its next poll, none starts. */
  private closed = false;
  /** performance.now() when the link dropped during a catch-up (null: it did not): held on for a reconnect until `waitMs` past it. */
  private droppedAt: number | null = null;
  private readonly held: HeldRequests;
  private readonly turn: NodeJS.Timeout;
  private stalls = 0;
  /** The longest stall (ms) since the member fell behind: past half the freshness window the stream must answer. */
  private longest = 0;
  /** The loop stalled again while a catch-up ran: what it read before that stall does not make the member current. */
  private stalledDuring = false;

  /**
   * `stallMs` above TURN_MS (else every request between two turns looks stalled). `liveMs`: the bus's freshness
   * window (cluster.auth.max_age_ms) — a live copy older than it was refused, so only the stream has it.
   */
  constructor(private readonly src: BusCatchUpSource, private readonly stallMs = STALL_MS, private readonly waitMs = CATCH_UP_WAIT_MS, private readonly liveMs = 30_000) {
    this.held = new HeldRequests(waitMs);
    this.turn = setInterval(() => {
      const now = performance.now();
      if (now - this.lastTurn > this.stallMs) this.stalled(now - this.lastTurn);
      this.lastTurn = now;
    }, TURN_MS);
    this.turn.unref();
  }

  /** true when judged at once (the request path: one compare); else a promise: true once caught up, false when waiting was given up (503). */
  current(): true | Promise<boolean> {
    if (!this.behind) {
      const since = runNow() - this.lastTurn;
      if (since <= this.stallMs) return true;
      this.stalled(since);
      if (!this.behind) return true;
    } else if (this.droppedAt !== null && !this.src.connected() && performance.now() - this.droppedAt > this.waitMs) {
      // off the bus for longer than a reconnect takes: the rules for a member off the bus (local state, fail_closed_after_ms)
      this.behind = false;
      this.droppedAt = null;
      return true;
    }
    const p = this.held.hold();
    if (!this.running) this.run();
    return p;
  }

  /**
   * `revocations_bus_stalls_total` (stalls seen while on the bus), `revocations_bus_catch_up_waits_total`
   * (requests held for a catch-up), `…_expired_total` (of those, refused).
   */
  stats(): Record<string, number> {
    return { revocations_bus_stalls_total: this.stalls, revocations_bus_catch_up_waits_total: this.held.held, revocations_bus_catch_up_expired_total: this.held.expired };
  }

  /** Release every waiter (false) and stop the timers. */
  close(): void {
    this.closed = true;
    clearInterval(this.turn);
    this.held.refuseAll();
  }

  /** The loop did not turn for over `stallMs`: hold requests and catch up at once — unless off the bus (nothing to catch up with). */
  private stalled(ms: number): void {
    this.lastTurn = performance.now();
    // a stall while off the bus is not counted: the reconnect's replay covers it
    if (this.behind) { this.longest = Math.max(this.longest, ms); this.stalledDuring = true; return; }
    if (!this.src.connected()) return;
    this.longest = ms;
    this.behind = true;
    this.stalls++;
    if (!this.running) this.run();
  }

  /** One catch-up at a time, shared by every held request; again while requests still wait. */
  private run(): void {
    this.running = true;
    this.stalledDuring = false;
    this.catchUp().then((ok) => ok, () => false).then((ok) => {
      this.running = false;
      // a stall during it: its round trip and the stream's answer predate that stall's live copies — again
      if (ok && this.stalledDuring && !this.closed) { this.run(); return; }
      if (ok) {
        this.behind = false;
        this.droppedAt = null;
        this.held.release();
        return;
      }
      // the link dropped meanwhile (nats-server closed the stopped member as a slow consumer): still behind — the
      // reconnect's replay holds requests from then on (catching_up), until then they wait here, for `waitMs` at most
      if (!this.src.connected()) this.droppedAt ??= performance.now();
      if (this.held.waiting > 0 && !this.closed) this.run();
    });
  }

  /** (Re)connected, a round trip, then the stream's last sequence applied; false when that takes over `waitMs` or the link drops. */
  private async catchUp(): Promise<boolean> {
    const end = performance.now() + this.waitMs;
    while (!this.src.connected()) {
      if (this.closed || performance.now() > end) return false;
      await pause(RECONNECT_POLL_MS);
    }
    if (!(await this.src.roundTrip())) return false;
    // after a stall longer than the bus's freshness window the live copies are refused as stale: the consumer's count.
    // A stream that does not answer in time is one without a leader (the leader's node died, an election): judged as
    // one that answers without a quorum — the round trip applied every live copy. Before, a member whose own server
    // lived answered 503 after a stall during the election (the question outlasted the wait). Only after a stall under
    // half the freshness window (clock skew between hosts): after a longer one a live copy may have been refused as
    // stale and a stream that is merely slow (or a round trip that used the wait) would have released the held
    // requests on a state without it — there the stream's answer is waited for, as before (503 past the wait).
    const asked = this.src.streamLastSeq();
    const target = this.longest < this.liveMs / 2 ? await streamAnswer(asked, end - STREAM_ANSWER_MARGIN_MS - performance.now()) : await asked;
    // no answer counts only while the link the round trip ran on stands: dropped since, live copies may be missing
    if (target === null) return this.src.connected();
    while (this.src.appliedSeq() < target) {
      if (this.closed || !this.src.connected() || performance.now() > end) return false;
      await pause(APPLIED_POLL_MS);
    }
    return true;
  }
}
