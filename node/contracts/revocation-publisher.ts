// How an identity-provider event (back-channel logout, SSF) turns into a cluster revocation:
// node/events validates the event and hands the revocation to the one publisher the cluster
// member owns (the same path as POST /revocations: store, JetStream, every member, live connections).

/**
 * How far past this host's clock a cut (`before`) may lie, s (the admin API's rule too). An event's cut is
 * its own time — the identity provider's clock, the one its tokens' `iat` are stamped with — up to this far
 * ahead: capped at this host's now, an OP whose clock ran ahead had its last tokens before the logout escape it.
 */
export const CUT_AHEAD_S = 60;

/** A revocation as node/events asks for it (cluster/revocation's request shape). */
export interface RevocationInput {
  /** `sub_without_sid`: only the sub's tokens that carry no `sid` claim (the companion of a session logout naming the user). */
  readonly kind: 'sub' | 'sid' | 'sub_without_sid';
  readonly value: string;
  /** Only tokens with this `iss`; null = tokens of any issuer. */
  readonly issuer: string | null;
  /** `sub`/`sub_without_sid` only: tokens issued up to and including this second (epoch s) are revoked. */
  readonly before?: number;
  readonly reason: string;
}

/** What became of it: applied here and published (`persisted`: stored in the stream; null = no stream, e.g. IPC), or refused. */
export type PublishOutcome =
  | { readonly ok: true; readonly id: string; readonly persisted: boolean | null }
  | { readonly ok: false; readonly errors: readonly string[]; readonly full?: boolean };

/** The member's revocation publisher. */
export interface RevocationPublisher {
  /**
   * Publish under `id` (derived from the event: a replayed event gets the same id, so it is
   * idempotent in the store and deduplicated by JetStream). Never rejects.
   */
  publish(input: RevocationInput, id: string): Promise<PublishOutcome>;
  /** True when a revocation with this id is applied here (an event seen anywhere in the cluster). */
  known(id: string): boolean;
  /**
   * True when this member owns `key` by the cluster's rendezvous rule over live serving members (SSF poll: one
   * poller per stream); false for every key until converged().
   */
  owns(key: string): boolean;
  /** True once this member's view has heard its peers (the bus connected 1.5 heartbeat periods ago; in-process at once). */
  converged(): boolean;
  /** True while this member's bus has not connected since its start (past a heartbeat round and a half): it hears nobody (an SSF poller then polls alone, acknowledging nothing). */
  isolated(): boolean;
}
