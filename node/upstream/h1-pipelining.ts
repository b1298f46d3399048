// Upstream HTTP/1.1 pipelining (opt-in per upstream, `upstreams.<name>.pipelining`): which
// requests may share a connection with others in flight, which connection has room, and the
// end-of-turn flush that sends every request written to one connection in one event-loop turn
// in ONE write (socket cork → writev). The in-order response bookkeeping is h1-connection.ts.
import type { H1Request } from './h1-client.js';
import { S_BUSY, type H1Connection } from './h1-connection.js';

/**
 * Only safe methods without a body are pipelined (RFC 9112 §9.3.2): if the connection dies with
 * them in flight they are retried once elsewhere, which is harmless only for these; a request
 * with a body would also hold the connection for its upload. Not HEAD: an upstream that sends a
 * body with its HEAD answer (a common bug) would have that body read as the next pipelined
 * request's response — another client's; alone on its connection, a HEAD answer announcing a
 * length ends the connection (h1-parser.ts keepAlive).
 */
export function isPipelineable(req: H1Request): boolean {
  if (req.body !== null) return false;
  const m = req.method;
  return m === 'GET' || m === 'OPTIONS';
}

/** True when `c` can take another pipelined request: connected, carrying only pipelineable ones, fewer than `max` in flight. */
export function hasRoom(c: H1Connection, max: number): boolean {
  const head = c.tx;
  return c.state === S_BUSY && head !== null && head.pipelineable && c.body === null && c.queue.length + 1 < max && !c.socket.destroyed;
}

/** The connection with room and the fewest requests in flight, or null. */
export function leastLoaded(conns: readonly H1Connection[], max: number): H1Connection | null {
  let best: H1Connection | null = null;
  for (const c of conns) {
    if (hasRoom(c, max) && (best === null || c.queue.length < best.queue.length)) best = c;
  }
  return best;
}

/**
 * Head-of-line budget of the turn batch: a request joins the connection written this turn only
 * while depth × the upstream's response time stays within it. The response time is the
 * fastest of the last RESPONSE_WINDOW responses that had nothing ahead of them (write → end):
 * a minimum, so lag spikes of the proxy's own event loop do not count. It still includes the
 * loop's steady turn time, which under strace or a CPU shared with other work is 5 ms and more
 * even for loopback answers (measured): a 5 ms budget switched batching off exactly under load,
 * hence 50 ms. It is a guard against upstreams slow on every request (≥ 50 ms: no batching;
 * 25 ms: depth 2), not a tail-latency tuning. The pool's connection limit still applies: a full
 * pool pipelines as before.
 */
export const HOL_BUDGET_MS = 50;
/** Responses per window of the response-time minimum. */
export const RESPONSE_WINDOW = 8;

/**
 * Corks each connection at its first write in a turn and uncorks them all in one setImmediate
 * (after the I/O callbacks of the turn): requests that became ready in the same turn go out in
 * one writev per connection. `batch` is the connection written last in this turn, the first
 * choice for the next pipelineable request, so a turn's requests gather on few connections.
 */
export class TurnCoalescer {
  batch: H1Connection | null = null;
  /** The fastest response of the last full window (ms): 0 until one is complete (full depth). */
  responseMs = 0;
  private windowMin = Infinity;
  private windowN = 0;
  private corked: H1Connection[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  /** Call before writing a request to `c` (pipelining pools only). */
  cork(c: H1Connection): void {
    this.batch = c;
    if (c.corked) return;
    c.corked = true;
    c.socket.cork();
    this.corked.push(c);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Depth the turn batch may reach (≥ 1, ≤ `max`) given the measured time per response. */
  batchDepth(max: number): number {
    const ms = this.responseMs;
    return ms <= 0 ? max : Math.max(1, Math.min(max, Math.floor(HOL_BUDGET_MS / ms)));
  }

  /** A response ended that was written on an empty connection at `writtenAt` (performance.now()). */
  observe(writtenAt: number): void {
    const sample = performance.now() - writtenAt;
    if (sample < this.windowMin) this.windowMin = sample;
    if (++this.windowN < RESPONSE_WINDOW) return;
    this.responseMs = this.windowMin;
    this.windowMin = Infinity;
    this.windowN = 0;
  }

  flush(): void {
    this.scheduled = false;
    this.batch = null;
    const cs = this.corked;
    if (cs.length === 0) return;
    this.corked = [];
    for (const c of cs) {
      c.corked = false;
      if (!c.socket.destroyed) c.socket.uncork();
    }
  }
}
