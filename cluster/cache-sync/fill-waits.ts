// The asking side of single-flight: a watch per key this member is resolving, opened
// before the owner is asked, so a `cache.filled` or `introspection.released` that
// overtakes the owner's answer is not missed. Waits end on a fill, a release, the
// owner leaving, close, or their deadline (one coarse timer for all of them).
import type { IntrospectionResult } from '../../node/contracts/index.js';

/** One member-local resolution in progress. */
export interface Watch {
  readonly id: string;
  /** The member asked last (woken if it leaves). */
  owner: string | null;
  /** A result heard on the bus since the watch opened. */
  result: IntrospectionResult | null;
  /** Releases heard for this key since the watch opened. */
  released: number;
  /** A release said the holder's call failed. */
  failed: boolean;
  /** Set while waiting: ends the wait. */
  wake: (() => void) | null;
  /** Monotonic ms. */
  deadline: number;
}

const TICK_MS = 20;

/** Open watches by lease id. */
export class FillWaits {
  private readonly byId = new Map<string, Set<Watch>>();
  private readonly waiting = new Set<Watch>();
  private timer: NodeJS.Timeout | null = null;

  /** `now`: a monotonic clock, ms — a wall clock stepped back stretched a lost fill's wait by the step. */
  constructor(private readonly now: () => number) {}

  get open(): number { return this.byId.size; }

  /** Start watching `id` (before asking its owner). */
  watch(id: string): Watch {
    const w: Watch = { id, owner: null, result: null, released: 0, failed: false, wake: null, deadline: 0 };
    let set = this.byId.get(id);
    if (set === undefined) { set = new Set(); this.byId.set(id, set); }
    set.add(w);
    return w;
  }

  /** Stop watching (always, in a finally). */
  unwatch(w: Watch): void {
    this.end(w);
    const set = this.byId.get(w.id);
    if (set === undefined) return;
    set.delete(w);
    if (set.size === 0) this.byId.delete(w.id);
  }

  /** Resolves when something happens to `w` or after `ms`. Never rejects. */
  wait(w: Watch, ms: number): Promise<void> {
    return new Promise((resolve) => {
      w.deadline = this.now() + ms;
      w.wake = resolve;
      this.waiting.add(w);
      if (this.timer === null) {
        this.timer = setInterval(() => this.tick(), TICK_MS);
        this.timer.unref();
      }
    });
  }

  /** A result for `id` arrived. */
  filled(id: string, result: IntrospectionResult): void {
    for (const w of this.byId.get(id) ?? []) { w.result = result; this.end(w); }
  }

  /** The lease on `id` ended without a result. */
  released(id: string, failed: boolean): void {
    for (const w of this.byId.get(id) ?? []) { w.released++; if (failed) w.failed = true; this.end(w); }
  }

  /** Wake every wait whose owner left; returns how many. */
  ownersGone(departed: ReadonlySet<string>): number {
    let n = 0;
    if (departed.size === 0) return n;
    for (const w of [...this.waiting]) if (w.owner !== null && departed.has(w.owner)) { this.end(w); n++; }
    return n;
  }

  /** Wake everything (close). */
  wakeAll(): void {
    for (const w of [...this.waiting]) this.end(w);
  }

  private tick(): void {
    const now = this.now();
    for (const w of [...this.waiting]) if (w.deadline <= now) this.end(w);
  }

  private end(w: Watch): void {
    const wake = w.wake;
    w.wake = null;
    this.waiting.delete(w);
    if (this.waiting.size === 0 && this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    wake?.();
  }
}
