// The HTTP/2 relay's contract with the listener that owns it: the callbacks for metrics, logs,
// lifecycle and reloads, so the relay stays I/O only.
import type { H2Relay } from './h2-relay.js';

/** Callbacks into the listener (metrics, logs, lifecycle). */
export interface H2RelayHost {
  finished(relay: H2Relay): void;
  upstreamError(upstream: string, kind: string): void;
  decision(reason: string | null): void;
  bodyEnded(relay: H2Relay): void;
  /** A gRPC call reached its grpc-timeout; `streaming`: its response had started. */
  deadlineExceeded(relay: H2Relay, streaming: boolean): void;
  /** The client's side became full (`on`) or drained / the relay ended (`!on`): watched for server.http2.stalled_response_ms. */
  stalled(relay: H2Relay, on: boolean): void;
  /** A response head arriving under a snapshot a reload swapped in: true when the config now in force refused it (the relay answered 403). */
  refusedByReload(relay: H2Relay): boolean;
}
