// Cluster membership: this member's heartbeat on `<p>.members` every interval and the
// live view of every member heard from; a member expires after 3 missed heartbeats or
// at once when it says `member.left`. A round whose timer fired late (this process was
// stalled) expires nobody: the peers' heartbeats are still unread in the socket. A member with
// cluster policy carries its policy status in every heartbeat (`policy status` reads them);
// one with a direct revocation listener carries its address (heartbeat v3). A heartbeat neither signed later
// than every one heard from that id nor newer by (startedAt, seq) is a replay, and so is a `member.left`
// signed before that member's process started (a restart under the same id): ignored and counted. A
// heartbeat carrying this member's own id from another process is a duplicate `cluster.member_id`. The view
// holds at most MAX_VIEW_MEMBERS ids, whoever signs: a new id past that is refused and counted; an id that is no
// subject token (no member makes one) is refused as invalid.
// A new member is answered with a heartbeat at once, and the view counts as settled (and, once the bus ever
// connected, converged: ownership counts) a round and a half after the bus connected. Liveness (lastSeen, expiry,
// late rounds) runs on the monotonic clock; only start and signing times, which cross the wire, are wall clock.
import { hostname } from 'node:os';
import type { MessageBus } from '../protocol/message-bus.js';
import { isMemberIdToken } from '../protocol/subjects.js';
import type { BusMessage, MemberPolicyStatus, MemberRole } from '../protocol/messages.js';
import { MAX_PEER_INTERVAL_MS, MAX_VIEW_MEMBERS, SERVING, type MemberInfo } from './member-info.js';
export type { MemberInfo } from './member-info.js';
import { forgetOldest, MAX_REMEMBERED_MEMBERS, newer, notNewer, REPLAY_MEMORY_MS, type Newest } from './heartbeat-order.js';
import { ListenerSet } from './listener-set.js';
import { SettleWindow } from './settle-window.js';

/** Construction options; `now` is injectable for tests. */
export interface MembershipOptions {
  readonly bus: MessageBus;
  readonly id: string;
  readonly role: MemberRole;
  /** Heartbeat period, ms (default 1000). */
  readonly intervalMs?: number;
  /** Heartbeats a member may miss before it is dropped (default 3). */
  readonly missed?: number;
  /** Wall clock, epoch ms (this process's startedAt, how long replays are remembered); default Date.now. */
  readonly now?: () => number;
  /** Monotonic clock, ms (default performance.now): expiry, late rounds, the settle window and isolation are durations no wall-clock step may move. */
  readonly mono?: () => number;
}

/** Heartbeats and the live member view. */
export class Membership {
  readonly id: string;
  readonly role: MemberRole;
  private readonly intervalMs: number;
  private readonly missed: number;
  private readonly now: () => number;
  private readonly view = new Map<string, MemberInfo>();
  private readonly startedAt: number;
  private readonly listeners = new ListenerSet<readonly string[]>();
  private readonly restartListeners = new ListenerSet<string>();
  private sorted: readonly string[] = [];
  private nextExpiry = Infinity;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private unsubscribeStatus: (() => void) | null = null;
  private readonly mono: () => number;
  /** The round and a half after the bus first connected (settle-window.ts). */
  private readonly window: SettleWindow;
  /** When a joining member was last answered with a beat out of turn, monotonic ms. */
  private lastNudge = Number.NEGATIVE_INFINITY;
  private joined = 0;
  private expired = 0;
  /** When the heartbeat timer last fired (or was started), monotonic ms. */
  private lastRound = 0;
  /** No expiry before this instant, monotonic ms: set after a late round. */
  private holdUntil = 0;
  private roundsSkipped = 0;
  /** Late rounds in a row; past `missed` of them expiry runs anyway (a loop late every round still drops dead peers). */
  private lateInARow = 0;
  /** This member's cluster policy status for each heartbeat (setPolicyStatus); none = null. */
  private policyStatus: (() => MemberPolicyStatus) | null = null;
  /** This member's direct revocation address for each heartbeat (setDirectAddress); null = none, heartbeat v2. */
  private directAddress: string | null = null;
  /** The newest heartbeat heard per member id (kept REPLAY_MEMORY_MS past leaving the view): an older or equal one is a replay. */
  private readonly newest = new Map<string, Newest>();
  private replayed = 0;
  /** Heartbeats of new ids refused because the view held MAX_VIEW_MEMBERS. */
  private refused = 0;
  private idConflicts = 0;
  private readonly conflictListeners = new ListenerSet<{ readonly host: string; readonly pid: number; readonly startedAt: number }>();
  private readonly goodbyeListeners = new ListenerSet<string>();
  private readonly fullListeners = new ListenerSet<number>();

  constructor(private readonly opts: MembershipOptions) {
    this.id = opts.id;
    this.role = opts.role;
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.missed = opts.missed ?? 3;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.mono = opts.mono ?? (() => performance.now());
    this.window = new SettleWindow(this.mono, this.intervalMs);
    this.recompute();
  }

  /** Subscribe, send the first heartbeat now and then every interval. */
  start(): void {
    if (this.timer !== null) return;
    this.unsubscribe = this.opts.bus.subscribe(this.opts.bus.subjects.members, (m, incoming) => this.receive(m, incoming.signedAt));
    const t = this.opts.bus.transport;
    // in-process (one member, no bus): nobody else to hear
    if (t.kind !== 'local') {
      this.unsubscribeStatus = t.onStatus((s) => { if (s === 'connected') this.window.connected(); });
      if (t.isConnected()) this.window.connected();
    }
    this.beat();
    this.lastRound = this.mono();
    this.timer = setInterval(() => this.round(), this.intervalMs);
    this.timer.unref();
  }

  /** From now on every heartbeat carries `status()` (the member runs cluster policy). */
  setPolicyStatus(status: () => MemberPolicyStatus): void {
    this.policyStatus = status;
  }

  /** From now on every heartbeat is v3 and carries `address` (`host:port` of the direct revocation listener). */
  setDirectAddress(address: string): void {
    this.directAddress = address;
  }

  /** One heartbeat now, outside the timer (the policy status changed: `policy status` sees it at once). */
  beatNow(): void {
    if (this.timer !== null) this.beat();
  }

  /**
   * Sorted ids of the live members that serve requests (workers and single instances),
   * this one included when it serves. The shared introspection cache hashes over it.
   */
  members(): readonly string[] {
    this.expireDue();
    return this.sorted;
  }

  /**
   * Has the view heard every live peer? True one heartbeat round and a half after the bus first connected
   * (every peer beats once a round, and answers a newcomer's first beat at once); always in-process and while
   * the bus never connected (nobody to hear: one serving from its snapshot waits for nothing). Before,
   * a member was ready with a view of itself only and introspected tokens its peers owned: 20 distinct
   * tokens right after a join cost the authorization server 21–25 calls.
   */
  settled(): boolean { return this.unsettledMs() === 0; }

  /**
   * May this member act as the owner of a cluster-wide key (an SSF stream, its poll loop)? As settled(), but false
   * while the bus never connected: a member that cannot hear its peers would own every key, and two members whose
   * bus connected late (or whose view had not heard the other yet) both managed the SSF stream: two verification
   * requests, and two creates when the stream was absent.
   */
  converged(): boolean {
    return this.opts.bus.transport.kind === 'local' || (this.window.everConnected() && this.settled());
  }

  /**
   * How long until the view counts as having heard every live peer, ms: the rest of the round and a half after the bus
   * first connected; 0 once past it, in-process, and while the bus never connected (nobody to hear: DESIGN's lost-bus rule).
   * A DPoP proof whose owner is not known yet waits this long rather than being judged by a view of one. Measured on the
   * monotonic clock: a wall clock stepped back (NTP) once made proofs wait (and /readyz say `members`) the step, and one
   * stepped forward ended the window at once — proofs judged by a view of one, a replay on another member accepted.
   */
  unsettledMs(): number { return this.window.unsettledMs(); }

  /**
   * Has this member's bus (NATS or IPC) not connected in the round and a half since it started, nor ever since? It
   * hears nobody and serves on its own state: an SSF poller polls as if alone (what it applies it cannot store, so it
   * acknowledges nothing). Not before that round and a half: a bus that connects at once is no outage. In-process: false.
   */
  isolated(): boolean {
    return this.opts.bus.transport.kind !== 'local' && this.window.isolated();
  }

  /** Every live member with details, primaries included. */
  all(): MemberInfo[] {
    this.expireDue();
    return [...this.view.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** How long ago `m` (from all()) was last heard, ms on this view's monotonic clock. */
  silentMs(m: MemberInfo): number { return this.mono() - m.lastSeen; }

  /** Called with the new `members()` whenever it changes. Returns the unsubscribe function. */
  onChange(listener: (ids: readonly string[]) => void): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Called with a member's id when it is heard from as a new process (a later `startedAt`) while
   * still in the view: restarted at once under the same id, it is a peer that left and came back —
   * what its old process held (introspection leases) will never be answered. Returns the unsubscribe function.
   */
  onRestart(listener: (id: string) => void): () => void {
    return this.restartListeners.add(listener);
  }

  /**
   * Called with a member's id for its authentic `member.left` that is not a replay, before the view drops it:
   * this one subscription serves every reader of `<p>.members` (a second one checked and counted each message twice).
   */
  onGoodbye(listener: (id: string) => void): () => void {
    return this.goodbyeListeners.add(listener);
  }

  /**
   * Called with the other process's host, pid and start time when a heartbeat carries this member's
   * id but is not its own: two processes joined under one `cluster.member_id`, and each ignores the
   * other as its own echo (DPoP records, cache evictions). Returns the unsubscribe function.
   */
  onIdConflict(listener: (other: { readonly host: string; readonly pid: number; readonly startedAt: number }) => void): () => void {
    return this.conflictListeners.add(listener);
  }

  /** Called with the running count each time a new member's heartbeat is refused because the view is full (MAX_VIEW_MEMBERS). Returns the unsubscribe function. */
  onViewFull(listener: (refused: number) => void): () => void {
    return this.fullListeners.add(listener);
  }

  stats(): Record<string, number> {
    return { members_live: this.members().length, members_joined_total: this.joined, members_refused_total: this.refused, members_expired_total: this.expired, members_expiry_rounds_skipped_total: this.roundsSkipped, heartbeats_replayed_total: this.replayed, member_id_conflicts_total: this.idConflicts };
  }

  /** Say goodbye (others drop us at once) and stop. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribeStatus?.();
    this.unsubscribeStatus = null;
    if (this.unsubscribe !== null) {
      this.opts.bus.publish(this.opts.bus.subjects.members, { type: 'member.left', v: 1, id: this.id });
      this.unsubscribe();
      this.unsubscribe = null;
    }
    this.listeners.clear();
    this.restartListeners.clear();
    this.conflictListeners.clear();
    this.goodbyeListeners.clear();
    this.fullListeners.clear();
  }

  /**
   * Is a `member.left` of `id` signed at `signedAt` (epoch ms, the sender's clock; null on IPC) a
   * replay — signed before the process we now hear from under that id started? Both times are
   * that member's own clock. Judged by the latest start heard that was not in our future: before, one
   * beat sealed with a start up to max_age_ms ahead made the member's real goodbye look like a replay.
   */
  staleGoodbye(id: string, signedAt: number | null): boolean {
    const n = this.newest.get(id);
    return signedAt !== null && n !== undefined && signedAt < n.started;
  }

  /** Apply one message from `<p>.members` (exposed for tests); `signedAt`: when its sender sealed it (null: unauthenticated transport). */
  receive(m: BusMessage, signedAt: number | null = null): void {
    switch (m.type) {
      case 'member.heartbeat': {
        if (m.id === this.id) {
          // our own comes back (NATS echoes it); another process's under our id: a duplicate member_id
          if (m.startedAt !== this.startedAt || m.pid !== process.pid || m.host !== hostname()) this.idConflict(m);
          return;
        }
        // no member makes such an id: one that is no subject token could own keys whose owner request cannot even be addressed
        if (!isMemberIdToken(m.id)) { this.opts.bus.rejectInvalid(this.opts.bus.subjects.members, m.type); return; }
        // a process cannot have started after it signed: such a beat (its startedAt would order every real one before it) is refused
        if (signedAt !== null && m.startedAt > signedAt) { this.opts.bus.rejectInvalid(this.opts.bus.subjects.members, m.type); return; }
        // a captured authentic heartbeat replayed (fresh for max_age_ms) must not keep a dead member in the view
        const last = this.newest.get(m.id);
        if (last !== undefined && notNewer(m, signedAt, last)) { this.replayed++; return; }
        const known = this.view.has(m.id);
        // bounded whoever signs: a key holder's invented ids must not grow the view (each join costs a pass over it)
        if (!known && this.view.size >= MAX_VIEW_MEMBERS) { this.fullListeners.emit(++this.refused); return; }
        if (last === undefined && this.newest.size >= MAX_REMEMBERED_MEMBERS) forgetOldest(this.newest, (id) => this.view.has(id));
        this.newest.set(m.id, newer(last, m, signedAt, this.now()));
        this.view.set(m.id, { id: m.id, role: m.role, host: m.host, pid: m.pid, startedAt: m.startedAt, lastSeen: this.mono(), intervalMs: Math.min(m.intervalMs, MAX_PEER_INTERVAL_MS), policy: m.v === 1 ? null : m.policy, direct: m.v === 3 ? m.direct : null });
        if (!known) { this.joined++; this.recompute(); this.nudge(); }
        else this.nextExpiry = Math.min(this.nextExpiry, this.deadline(this.view.get(m.id)!));
        if (known && last !== undefined && m.startedAt > last.startedAt) {
          this.restartListeners.emit(m.id);
        }
        return;
      }
      case 'member.left':
        if (this.staleGoodbye(m.id, signedAt)) { this.replayed++; return; }
        this.goodbyeListeners.emit(m.id);
        if (this.view.delete(m.id)) this.recompute();
        return;
      default:
        return;
    }
  }

  private idConflict(m: { readonly host: string; readonly pid: number; readonly startedAt: number }): void {
    this.idConflicts++;
    this.conflictListeners.emit({ host: m.host, pid: m.pid, startedAt: m.startedAt });
  }

  /** A member joined: beat now so its view holds us within a round trip (at most four times a round: a restart wave costs little). */
  private nudge(): void {
    const now = this.mono();
    if (this.timer === null || now - this.lastNudge < this.intervalMs / 4) return;
    this.lastNudge = now;
    this.beat();
  }

  private beat(): void {
    const hb = {
      type: 'member.heartbeat', id: this.id, role: this.role, host: hostname(), pid: process.pid,
      startedAt: this.startedAt, seq: ++this.seq, intervalMs: this.intervalMs, policy: this.policyStatus?.() ?? null,
    } as const;
    this.opts.bus.publish(this.opts.bus.subjects.members, this.directAddress === null ? { ...hb, v: 2 } : { ...hb, v: 3, direct: this.directAddress });
  }

  private deadline(m: MemberInfo): number {
    return m.lastSeen + this.missed * m.intervalMs;
  }

  /**
   * One timer round: heartbeat, then expiry — unless the timer fired more than half an
   * interval late. Then this process was stalled (GC, a blocked loop, a stopped VM) and the
   * peers' heartbeats of that time sit unread in the socket: expiring now would drop every
   * peer at once. Expiry waits half an interval (the next I/O phase reads them right after
   * this timer phase); the next on-time round expires as usual, and so does the round after
   * `missed` late ones in a row (the backlog has been read by then).
   */
  private round(): void {
    const now = this.mono();
    const late = now - this.lastRound - this.intervalMs;
    this.lastRound = now;
    this.beat();
    this.unsettledMs(); // closes the window while the clock is right, whether or not anyone asked
    if (late > this.intervalMs / 2 && this.lateInARow < this.missed) {
      this.lateInARow++;
      this.roundsSkipped++;
      this.holdUntil = now + this.intervalMs / 2;
      return;
    }
    this.lateInARow = 0;
    this.expire();
  }

  /** Lazy expiry for readers between rounds; not while held, nor while our own timer is overdue (we are the stalled one). */
  private expireDue(): void {
    const now = this.mono();
    if (now < this.nextExpiry || now < this.holdUntil) return;
    if (this.timer !== null && now - this.lastRound > this.intervalMs * 1.5) return;
    this.expire();
  }

  private expire(): void {
    // monotonic: on the wall clock a step back kept a dead peer (and its share of introspection keys) for the step, one forward dropped live ones
    const now = this.mono();
    if (now < this.holdUntil) return;
    let changed = false;
    for (const [id, m] of this.view) {
      if (this.deadline(m) <= now) { this.view.delete(id); this.expired++; changed = true; }
    }
    // wall clock: what a replay is measured against is the signers' freshness window (max_age_ms), not our own time
    const wall = this.now();
    for (const [id, n] of this.newest) if (n.at + REPLAY_MEMORY_MS <= wall && !this.view.has(id)) this.newest.delete(id);
    if (changed) this.recompute();
    else this.nextExpiry = Math.min(...[...this.view.values()].map((m) => this.deadline(m)), Infinity);
  }

  private recompute(): void {
    const ids = [...this.view.values()].filter((m) => SERVING.has(m.role)).map((m) => m.id);
    if (SERVING.has(this.role)) ids.push(this.id);
    ids.sort();
    this.nextExpiry = Math.min(...[...this.view.values()].map((m) => this.deadline(m)), Infinity);
    const same = ids.length === this.sorted.length && ids.every((x, i) => x === this.sorted[i]);
    if (same) return;
    this.sorted = Object.freeze(ids);
    this.listeners.emit(this.sorted);
  }
}
