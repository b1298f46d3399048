// Cluster settings read from the `cluster` config section, with defaults for the
// fields the schema may not carry yet (max token lifetime, stream replicas, start wait).
import type { NatsConfig } from '../transport/nats-options.js';

/** Default maximum token lifetime: 24 h. */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 86_400;
/** Kept in the stream beyond the maximum lifetime, to cover `before` skew: 5 min. */
export const STREAM_AGE_MARGIN_S = 300;

/** The `cluster` section as read here (schema fields plus optional ones the lead may add). */
export interface ClusterSection {
  readonly nats?: NatsConfig | undefined;
  readonly subject_prefix?: string | undefined;
  readonly fail_closed_after_ms?: number | undefined;
  readonly member_id?: string | undefined;
  readonly start_timeout_ms?: number | undefined;
  readonly revocation?: {
    readonly max_token_lifetime_s?: number | undefined;
    readonly replicas?: number | 'auto' | undefined;
    readonly catch_up_timeout_ms?: number | undefined;
  } | undefined;
}

/** Resolved settings with every default applied. */
export interface ClusterSettings {
  readonly prefix: string;
  readonly nats: NatsConfig | null;
  readonly failClosedAfterMs: number | null;
  readonly memberId: string | null;
  /** How long start waits for the bus before serving degraded, ms (default 2000). */
  readonly startTimeoutMs: number;
  readonly maxLifetimeS: number;
  readonly replicas: number | 'auto';
  readonly catchUpTimeoutMs: number;
}

/** Read the section; unknown extra fields are ignored, absent ones defaulted. */
export function clusterSettings(section: unknown): ClusterSettings {
  const c = (section ?? {}) as ClusterSection;
  return {
    prefix: c.subject_prefix ?? 'portcullis',
    nats: c.nats ?? null,
    failClosedAfterMs: c.fail_closed_after_ms ?? null,
    memberId: c.member_id ?? null,
    startTimeoutMs: c.start_timeout_ms ?? 2_000,
    maxLifetimeS: c.revocation?.max_token_lifetime_s ?? DEFAULT_MAX_TOKEN_LIFETIME_S,
    replicas: c.revocation?.replicas ?? 'auto',
    catchUpTimeoutMs: c.revocation?.catch_up_timeout_ms ?? 10_000,
  };
}
