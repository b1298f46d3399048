// Cluster settings read from the `cluster` config section, with defaults for the
// fields the schema may not carry yet (max token lifetime, stream replicas, start wait,
// bus authentication, revocation store bounds and snapshot).
import type { NatsConfig } from '../transport/nats-options.js';
import { MAX_LINGER_S } from './revocation-linger.js';
import type { BusKeySource } from '../protocol/index.js';

/** Default maximum token lifetime: 24 h. */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 86_400;
/**
 * Kept in the stream beyond the maximum lifetime: the longest linger any config can ask for (2 × the
 * schema's largest `clock_skew_s`, 1200 s) plus 180 s (the 60 s an expiry may lie past its
 * creation's lifetime, and publish delays) — 1380 s, 23 min. Not read from the config, so a reload or
 * policy version that raises a skew finds every revocation it needs still there for a replay.
 */
export const STREAM_AGE_MARGIN_S = MAX_LINGER_S + 180;
/** Default bound of the revocation store: 100 000 entries… */
export const DEFAULT_MAX_REVOCATIONS = 100_000;
/** …and 128 MiB by the store's own estimate of its heap (room for max_entries of typical ~800 B entries; it binds for long ones). */
export const DEFAULT_MAX_REVOCATION_BYTES = 128 * 1024 * 1024;

/** The `cluster` section as read here (schema fields plus optional ones the lead may add). */
export interface ClusterSection {
  readonly nats?: NatsConfig | undefined;
  readonly subject_prefix?: string | undefined;
  readonly fail_closed_after_ms?: number | undefined;
  readonly member_id?: string | undefined;
  readonly start_timeout_ms?: number | undefined;
  readonly heartbeat_ms?: number | undefined;
  readonly auth?: {
    readonly mode?: 'hmac' | 'none' | undefined;
    readonly key_env?: string | undefined;
    readonly key_file?: string | undefined;
    readonly previous_key_env?: string | undefined;
    readonly previous_key_file?: string | undefined;
    readonly max_age_ms?: number | undefined;
  } | undefined;
  readonly revocation?: {
    readonly max_token_lifetime_s?: number | undefined;
    readonly replicas?: number | 'auto' | undefined;
    readonly catch_up_timeout_ms?: number | undefined;
    readonly max_entries?: number | undefined;
    readonly max_bytes?: number | undefined;
    readonly sweep_interval_s?: number | undefined;
    readonly snapshot_file?: string | undefined;
    readonly snapshot_max_age_s?: number | undefined;
    readonly snapshot_interval_ms?: number | undefined;
    readonly direct?: { readonly listen?: string | undefined; readonly advertise?: string | undefined } | undefined;
    readonly receiver?: 'main' | 'thread' | undefined;
  } | undefined;
}

/** How bus messages between members are authenticated (NATS only; see cluster/protocol/bus-auth.ts): the settings bus-keys.ts reads, declared once there. */
export type BusAuthSettings = BusKeySource;

/** Where a member persists its revocation store, so a restart without the bus can still serve. */
export interface SnapshotSettings {
  readonly file: string;
  /** A snapshot whose state is older than this is not served from, s (default 300). */
  readonly maxAgeS: number;
  /** Shortest interval between two writes, ms (default 1000). */
  readonly intervalMs: number;
}

/** The direct revocation push (revocation-direct.ts): where this member listens and what it tells its peers. */
export interface DirectSettings {
  /** `host:port` to bind (default `127.0.0.1:0`: loopback, any free port). */
  readonly listen: string;
  /** Host put in the heartbeat instead of the bound address (null: the bound address, or the hostname when bound to any). */
  readonly advertise: string | null;
}

/** Resolved settings with every default applied. */
export interface ClusterSettings {
  readonly prefix: string;
  readonly nats: NatsConfig | null;
  readonly failClosedAfterMs: number | null;
  readonly memberId: string | null;
  /** How long start waits for the bus before logging it unreachable, ms (default 2000). */
  readonly startTimeoutMs: number;
  /** This member's heartbeat period, ms (default 1000): readiness after the bus connects and the policy start's peer listen wait 1.5 of it. */
  readonly heartbeatMs: number;
  readonly maxLifetimeS: number;
  readonly replicas: number | 'auto';
  readonly catchUpTimeoutMs: number;
  readonly auth: BusAuthSettings;
  /** Revocation store bounds: entries and estimated bytes. */
  readonly maxRevocations: number;
  readonly maxRevocationBytes: number;
  /** How often the store sweeps entries past their expiry and linger, s (default 60). */
  readonly sweepIntervalS: number;
  readonly snapshot: SnapshotSettings | null;
  /** Null: off (the default). */
  readonly direct: DirectSettings | null;
  /** Who receives live revocations: the request thread only (`main`, the default) or also a receiver thread (`thread`, NATS only). */
  readonly receiver: 'main' | 'thread';
}

/** Read the section; unknown extra fields are ignored, absent ones defaulted. */
export function clusterSettings(section: unknown): ClusterSettings {
  const c = (section ?? {}) as ClusterSection;
  const a = c.auth ?? {};
  const r = c.revocation ?? {};
  return {
    prefix: c.subject_prefix ?? 'portcullis',
    nats: c.nats ?? null,
    failClosedAfterMs: c.fail_closed_after_ms ?? null,
    memberId: c.member_id ?? null,
    startTimeoutMs: c.start_timeout_ms ?? 2_000,
    heartbeatMs: c.heartbeat_ms ?? 1_000,
    maxLifetimeS: r.max_token_lifetime_s ?? DEFAULT_MAX_TOKEN_LIFETIME_S,
    replicas: r.replicas ?? 'auto',
    catchUpTimeoutMs: r.catch_up_timeout_ms ?? 10_000,
    auth: {
      mode: a.mode ?? 'hmac',
      keyEnv: a.key_env ?? null,
      keyFile: a.key_file ?? null,
      previousKeyEnv: a.previous_key_env ?? null,
      previousKeyFile: a.previous_key_file ?? null,
      maxAgeMs: a.max_age_ms ?? 30_000,
    },
    maxRevocations: r.max_entries ?? DEFAULT_MAX_REVOCATIONS,
    maxRevocationBytes: r.max_bytes ?? DEFAULT_MAX_REVOCATION_BYTES,
    sweepIntervalS: r.sweep_interval_s ?? 60,
    snapshot: r.snapshot_file === undefined ? null : { file: r.snapshot_file, maxAgeS: r.snapshot_max_age_s ?? 300, intervalMs: r.snapshot_interval_ms ?? 1_000 },
    direct: r.direct === undefined ? null : { listen: r.direct.listen ?? '127.0.0.1:0', advertise: r.direct.advertise ?? null },
    receiver: r.receiver ?? 'main',
  };
}
