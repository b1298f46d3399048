// The cluster-wide introspection cache as node/ sees it: per issuer, who calls the
// authorization server for a token, who hears the answer (cluster/cache-sync implements it).

/** An introspection answer as plain data: what the cluster shares (keyed by SHA-256 hex of the token). */
export interface IntrospectionResult {
  readonly active: boolean;
  /** The response members except `active`; null when inactive. */
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Epoch ms after which the result must not be used (bounded by `exp` and the cache TTL). */
  readonly expiresAt: number;
  /**
   * The sharer filled `iss` in (the authorization server named none; cache.filled / introspection.leased v2):
   * a member with `require_iss` refuses it as it would its own server's iss-less answer. Absent: as answered.
   */
  readonly issFilled?: boolean;
}

/** What the sharing side may do to one issuer's local cache. */
export interface IntrospectionCacheLink {
  /** Store a result another member obtained; false when refused (bounds, shape). */
  prime(tokenHash: string, result: IntrospectionResult): boolean;
  /** Drop a token's entry (revocation, eviction elsewhere); false when absent. */
  evict(tokenHash: string): boolean;
  /** Drop the entries of `sub`'s tokens (of token issuer `iss` when not null); the dropped token hashes. */
  dropSubject?(iss: string | null, sub: string): readonly string[];
}

/** Cluster-wide introspection sharing: hooks per issuer. */
export interface IntrospectionSharing {
  /** Runs `call` at most once per token across the cluster (single-flight by the token's owner). */
  coordinator(issuer: string): (tokenHash: string, call: () => Promise<IntrospectionResult>) => Promise<IntrospectionResult>;
  /** Announces a result this member obtained. */
  publisher(issuer: string): (tokenHash: string, result: IntrospectionResult) => void;
  /** Lets the cluster fill and evict the issuer's cache; returns the detach function. */
  attach(issuer: string, client: IntrospectionCacheLink): () => void;
  /** Drop `sub`'s cached results (of token issuer `iss` when not null) here and at every member (an IdP's token-claims-change); how many were dropped here. */
  dropSubjectEverywhere(iss: string | null, sub: string): number;
}
