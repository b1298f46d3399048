// A gRPC caller's `grpc-timeout` as a deadline on the whole call (response head, streamed messages
// and trailers), not only on the wait for the response head: calls register their deadline here,
// one coarse shared timer (running only while some call has a deadline) ends the late ones.
import { SlotRegistry } from '../slot-registry.js';

/** grpc-timeout units (gRPC PROTOCOL-HTTP2.md) in ms. */
const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** Resolution of the shared timer, ms: a call ends at most this late after its deadline. */
export const DEADLINE_TICK_MS = 20;

/**
 * The caller's grpc-timeout in ms (at least 1), from a flat [name, value…] list; null when absent
 * or malformed (a malformed value is ignored as grpc-go does: the route's timeouts still apply).
 */
export function grpcTimeoutMs(headers: readonly string[]): number | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'grpc-timeout') continue;
    const m = /^(\d{1,8})([HMSmun])$/.exec(headers[i + 1]!);
    return m === null ? null : Math.max(1, Math.ceil(Number(m[1]) * GRPC_UNIT_MS[m[2]!]!));
  }
  return null;
}

/** A call that can be ended at its deadline. */
export interface Deadlined {
  /** performance.now() at which the call is over. */
  readonly deadlineAt: number;
  /** Index in the GrpcDeadlines it is registered with; -1 while not registered (node/slot-registry.ts). */
  deadlineSlot: number;
  deadlineExceeded(): void;
}

/** The calls with a deadline on one listener, swept every DEADLINE_TICK_MS while any is registered. */
export class GrpcDeadlines {
  private readonly calls = new SlotRegistry<Deadlined>('deadlineSlot');
  private timer: NodeJS.Timeout | null = null;

  add(call: Deadlined): void {
    this.calls.add(call);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), DEADLINE_TICK_MS);
      this.timer.unref();
    }
  }

  delete(call: Deadlined): void {
    this.calls.delete(call);
  }

  get size(): number { return this.calls.size; }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.calls) {
      if (c.deadlineAt <= now) {
        this.calls.delete(c);
        c.deadlineExceeded();
      }
    }
    if (this.calls.size === 0 && this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }

  /** Stop the timer (listener closed). */
  close(): void {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    this.calls.clear();
  }
}
