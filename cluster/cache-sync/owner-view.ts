// Which members may own token keys, as the shared introspection cache sees it: the live
// serving members, minus owners that did not answer (suspects, for a while), plus members
// that vanished without `member.left` for a short grace. A member's own stall makes it
// expire every peer before it reads their queued heartbeats (timers run before I/O), and
// a view that flapped with it would move ownership and cost duplicate calls. Every time here is
// monotonic ms (performance.now): a wall-clock step must neither stretch nor end a grace or a suspicion.
import type { Membership } from '../membership/membership.js';
import { rendezvousOwner } from './rendezvous.js';

export interface OwnerViewOptions {
  readonly membership: Membership;
  readonly self: string;
  /** How long a member that stopped beating (no goodbye) still owns its keys, ms. */
  readonly graceMs: number;
  /** How long an owner that did not answer is skipped, ms. */
  readonly suspectMs: number;
  /** Monotonic clock, ms (default performance.now). */
  readonly mono?: () => number;
  /** Members gone for good (said goodbye, or stayed away past the grace). */
  readonly onDeparted: (ids: ReadonlySet<string>) => void;
}

/** The ownership view: rendezvous candidates and departures. */
export class OwnerView {
  private live: ReadonlySet<string> = new Set();
  /** Said `member.left` before the membership view dropped them. */
  private readonly left = new Set<string>();
  /** Vanished without a goodbye: id → when the departure becomes final. */
  private readonly unconfirmed = new Map<string, number>();
  private readonly suspects = new Map<string, number>();
  private readonly unsubscribes: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;

  private readonly now: () => number;

  constructor(private readonly opts: OwnerViewOptions) {
    this.now = opts.mono ?? (() => performance.now());
  }

  start(): void {
    this.live = new Set(this.opts.membership.members());
    this.unsubscribes.push(
      // the membership's own subscription tells us, before its view drops the member
      this.opts.membership.onGoodbye((id) => this.goodbye(id)),
      this.opts.membership.onChange((ids) => this.changed(ids)),
      // restarted under the same id: the old process's keys and leases are gone with it
      this.opts.membership.onRestart((id) => this.depart(new Set([id]))),
    );
  }

  close(): void {
    for (const u of this.unsubscribes.splice(0)) {
      try { u(); } catch { /* the transport may be gone already */ }
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Owner of `key` among the candidates; `self` when none is left. */
  ownerOf(key: string): string {
    let c: readonly string[] = this.opts.membership.members();
    if (this.unconfirmed.size > 0) c = [...c, ...this.unconfirmed.keys()];
    if (this.suspects.size > 0) {
      const now = this.now();
      c = c.filter((m) => (this.suspects.get(m) ?? 0) <= now);
    }
    return rendezvousOwner(key, c) ?? this.opts.self;
  }

  /** May `id` still answer for its keys (live or within its grace)? */
  isCandidate(id: string): boolean {
    return id === this.opts.self || this.unconfirmed.has(id) || this.opts.membership.members().includes(id);
  }

  /** Has `id` beaten within two of its intervals? (A hung process stops beating; a busy one does not.) */
  heardFrom(id: string): boolean {
    const m = this.opts.membership.all().find((x) => x.id === id);
    return m !== undefined && this.opts.membership.silentMs(m) <= 2 * m.intervalMs;
  }

  /** Skip `id` for `suspectMs` (it did not answer). */
  suspect(id: string): void {
    if (id !== this.opts.self) this.suspects.set(id, this.now() + this.opts.suspectMs);
  }

  /** Forget suspicions that ran out (called by the owner's sweeper). */
  prune(): void {
    const now = this.now();
    for (const [m, until] of this.suspects) if (until <= now) this.suspects.delete(m);
  }

  get suspected(): number { return this.suspects.size; }

  private goodbye(id: string): void {
    if (this.unconfirmed.delete(id)) { this.depart(new Set([id])); return; }
    // Told before the membership drops it: its change report finishes the job.
    if (this.live.has(id)) this.left.add(id);
  }

  private changed(ids: readonly string[]): void {
    const next = new Set(ids);
    const gone = new Set<string>();
    const now = this.now();
    for (const m of this.live) {
      if (next.has(m) || m === this.opts.self) continue;
      if (this.left.delete(m)) gone.add(m);
      else this.unconfirmed.set(m, now + this.opts.graceMs);
    }
    for (const m of next) { this.unconfirmed.delete(m); this.left.delete(m); }
    this.live = next;
    if (gone.size > 0) this.depart(gone);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.unconfirmed.size === 0) return;
    const next = Math.min(...this.unconfirmed.values());
    this.timer = setTimeout(() => this.confirm(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  private confirm(): void {
    this.timer = null;
    const now = this.now();
    const gone = new Set<string>();
    for (const [m, at] of this.unconfirmed) if (at <= now) { this.unconfirmed.delete(m); gone.add(m); }
    if (gone.size > 0) this.depart(gone);
    this.schedule();
  }

  private depart(ids: ReadonlySet<string>): void {
    for (const m of ids) this.suspects.delete(m);
    this.opts.onDeparted(ids);
  }
}
