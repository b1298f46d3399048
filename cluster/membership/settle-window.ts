// When a member's view counts as having heard every live peer: a round and a half after its bus first
// connected (settled), and whether a bus that never connected leaves it alone (isolated). Both on the
// monotonic clock: a wall-clock step must neither stretch nor end the window.

/** The round and a half after the bus first connected, and the same span after start for isolation. */
export class SettleWindow {
  /** When the bus first connected, monotonic ms (null: not yet). */
  private connectedAt: number | null = null;
  private over = false; // the round and a half after it is over: it stays over
  /** When this process started, monotonic ms (isolated()). */
  private readonly startedMono: number;

  constructor(private readonly mono: () => number, private readonly intervalMs: number) {
    this.startedMono = mono();
  }

  /** The bus is connected (now or again): the window starts at the first call only. */
  connected(): void { this.connectedAt ??= this.mono(); }

  /** Has the bus ever connected? */
  everConnected(): boolean { return this.connectedAt !== null; }

  /** What is left of the window, ms; 0 once past it and while the bus never connected. */
  unsettledMs(): number {
    if (this.connectedAt === null || this.over) return 0;
    const left = this.connectedAt + this.intervalMs * 1.5 - this.mono();
    return (this.over = left <= 0) ? 0 : left;
  }

  /** The bus has not connected in the round and a half since start, nor ever since. */
  isolated(): boolean {
    return this.connectedAt === null && this.mono() - this.startedMono >= this.intervalMs * 1.5;
  }
}
