// Requests held until a process's revocation state is current again (the `--workers` lease, the NATS
// catch-up after a stall): each waits at most `waitMs`; one shared 50 ms timer, never one per request,
// refuses those whose wait has ended.

interface Waiter { readonly until: number; readonly resolve: (current: boolean) => void }

/** How often (ms) the shared timer looks for held requests whose wait has ended. */
const EXPIRY_EVERY_MS = 50;

export class HeldRequests {
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Requests held so far. */
  held = 0;
  /** Of those, the ones refused: their wait ended (or the holder closed) before the state was current. */
  expired = 0;

  constructor(private readonly waitMs: number) {}

  /** Requests waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Hold one request: true once release() is called, false when its wait ends first. */
  hold(): Promise<boolean> {
    this.held++;
    const p = new Promise<boolean>((resolve) => { this.waiters.push({ until: performance.now() + this.waitMs, resolve }); });
    if (this.timer === null) this.arm();
    return p;
  }

  /** The state is current: every held request goes on. */
  release(): void {
    this.settle(true, Number.POSITIVE_INFINITY);
  }

  /** Refuse every held request and stop the timer (the holder closes). */
  refuseAll(): void {
    this.settle(false, Number.POSITIVE_INFINITY);
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.settle(false, performance.now());
      if (this.waiters.length > 0) this.arm();
    }, EXPIRY_EVERY_MS);
    this.timer.unref();
  }

  /** Current: release all; else refuse those whose wait has ended by `now`. */
  private settle(current: boolean, now: number): void {
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (current) w.resolve(true);
      else if (w.until <= now) { this.expired++; w.resolve(false); }
      else keep.push(w);
    }
    this.waiters = keep;
    if (keep.length === 0 && this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
  }
}
