// The relay's contract with the listener that owns it: how a request ended (Outcome) and the
// callbacks (RelayHost) for metrics, logs, lifecycle and config, so the relay stays I/O only.
import type { UpstreamRequest } from '../pipeline/index.js';
import type { Snapshot } from '../pipeline/snapshot.js';

/**
 * How a request ended, as the client saw it (access log `outcome`, README "Logs"):
 * `complete` — a whole response was written (the upstream's, or the proxy's own error);
 * `truncated` — the proxy cut the client connection mid-response (upstream reset, body timeout
 * or protocol error after the head, revocation, shutdown); `aborted` — the client connection
 * ended first (the client closed it, or uWS dropped a client that stopped reading).
 */
export type Outcome = 'complete' | 'truncated' | 'aborted';

/**
 * Callbacks into the listener (metrics, logs, lifecycle) so the relay stays I/O only. `Relay` is the
 * relay class (relay.ts names it: a parameter here, so this contract does not import its implementation).
 */
export interface RelayHostOf<Relay> {
  /** Access log on: its lines carry upstream_ms. */
  readonly accessLog: boolean;
  /** A stop's drain has begun: answers carry `Connection: close`. */
  readonly draining: boolean;
  finished(relay: Relay): void;
  upstreamError(upstream: string, kind: string): void;
  bodyStarted(relay: Relay): void;
  bodyEnded(relay: Relay): void;
  /** An allowed request's body is read whole before its dispatch (`buffer`), or would be but the budget is spent (`overflow`): body-buffer.ts. */
  bodyPlanned(plan: 'buffer' | 'overflow' | 'share'): void;
  /** A response head of unknown length waits for its first body byte (uWS limitation, README "Limitations"). */
  headHeld(relay: Relay): void;
  /** An auth decision of the pipeline (metrics). */
  decision(reason: string | null): void;
  /** The config in force now: a reload swaps it (relay.snap stays the one the request was authorized under). */
  readonly snapshot: Snapshot;
  /** A response head arriving under a newer snapshot: true when the new config refused it (the relay answered 403). */
  refusedByReload(relay: Relay): boolean;
  /** A WebSocket route: connect upstream and upgrade when `relay` is an accepted upgrade; false for an ordinary request. */
  upgrade(relay: Relay, req: UpstreamRequest): boolean;
}
