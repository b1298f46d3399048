// The HTTP/2 relay's contract with the listener that owns it: the callbacks for metrics, logs,
// lifecycle and reloads, so the relay stays I/O only.

/** Callbacks into the listener (metrics, logs, lifecycle); `H2Relay` is the relay class (h2-relay.ts names it: no import back). */
export interface H2RelayHostOf<H2Relay> {
  finished(relay: H2Relay): void;
  upstreamError(upstream: string, kind: string): void;
  decision(reason: string | null): void;
  bodyEnded(relay: H2Relay): void;
  /** An allowed request's body is read whole before its dispatch (`buffer`), or would be but the budget is spent (`overflow`): node/http/body-buffer.ts. */
  bodyPlanned(plan: 'buffer' | 'overflow' | 'share'): void;
  /** A gRPC call reached its grpc-timeout; `streaming`: its response had started. */
  deadlineExceeded(relay: H2Relay, streaming: boolean): void;
  /** The client's side became full (`on`) or drained / the relay ended (`!on`): watched for server.http2.stalled_response_ms. */
  stalled(relay: H2Relay, on: boolean): void;
  /** A response head arriving under a snapshot a reload swapped in: true when the config now in force refused it (the relay answered 403). */
  refusedByReload(relay: H2Relay): boolean;
}
