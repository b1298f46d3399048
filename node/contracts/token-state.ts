// The revocation state one instance judges tokens against, as the cluster supplies it
// (cluster/process wires the member's store and gate in; none = no revocation checks).
import type { TokenFacts } from './token-facts.js';

/** A revocation as node/ sees it (cluster/bus's RevocationRecord fits). */
export interface RevokedEntry { readonly kind: string; readonly value: string }

/** May requests be judged now; `reason` is a stable code when not (catching_up, bus_lost…). */
export type GateVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** What the cluster supplies: the revocation set and whether requests may be judged now. */
export interface TokenState {
  /** ok=false before the first replay, while revocations are being replayed, or past fail_closed_after_ms. */
  gate(): GateVerdict;
  /**
   * Once gate() is ok: is the state known current? true, or a promise — a `serve --workers N` worker that has
   * not heard from its primary lately, a NATS member whose loop stalled — ok once it is current again, else
   * the reason waiting was given up (503: `primary_silent`, `bus_catching_up`). Absent: always current.
   */
  current?(): true | Promise<GateVerdict>;
  /** O(1), synchronous, allocation-free. */
  isRevoked(facts: TokenFacts): boolean;
  /** Called for every revocation applied here; returns the unsubscribe function. */
  onRevoked(listener: (r: RevokedEntry) => void): () => void;
}
