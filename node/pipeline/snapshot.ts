// The read-only snapshot the request path works from: compiled routes, upstream
// pools, auth stages and outbound steps of one config version: what the pipeline runs on. Reload builds a new one and swaps
// the reference; in-flight requests keep the snapshot they started with.
import type { Config } from '../config/index.js';
import type { RequestContext, StageResult } from './context.js';
import type { RouteTable } from '../routing/route-table.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import type { Tracer } from '../tracing/index.js';

/**
 * The token stages of one config (node/auth builds them), in the order the pipeline runs them:
 * extract → gate → verify → afterVerify (revocation, DPoP) → authorize, then mutate while forwarding.
 */
export interface AuthStages {
  /** Keys loaded and revocations replayed: requests can be judged. */
  ready(): boolean;
  extract(ctx: RequestContext): StageResult;
  /** The cluster gate (revocations replaying, bus lost…): CONTINUE or a 503 denial; a promise of one while a `--workers` worker waits to hear from its primary. Never rejects. */
  gate(ctx: RequestContext): StageResult | Promise<StageResult>;
  /** Verify the token, set ctx.principal. Synchronous on cache hits; never rejects. */
  verify(ctx: RequestContext): StageResult | Promise<StageResult>;
  /** After verification, whatever its outcome: revocation, then the DPoP proof (any denial of a DPoP request gets the DPoP challenge). Never rejects. */
  afterVerify(ctx: RequestContext, verified: StageResult): StageResult | Promise<StageResult>;
  authorize(ctx: RequestContext): StageResult;
  /** Is the principal's token revoked now? CONTINUE or the 401 denial (after a wait: an outbound token step that went async). */
  revocation(ctx: RequestContext): StageResult;
  /** Append identity headers for the upstream to `out` (flat name/value list). */
  mutate(ctx: RequestContext, out: string[]): void;
  /** True when the route strips the inbound Authorization header. */
  stripsAuthorization(ctx: RequestContext): boolean;
  /** Client-sent headers that are always removed (identity headers). */
  isIdentityHeader(lowerName: string): boolean;
}

/** What an outbound token step yields: the Authorization value sent upstream, or a refusal. */
export type OutboundResult = string | (StageResult & { readonly kind: 'deny' });

/**
 * A route's outbound token step (node/s2s: internal token, token exchange, client credentials),
 * run between authorize and forward. The client's Authorization never reaches the upstream.
 */
export interface OutboundStep {
  /** Synchronous when cached; the Promise never rejects. */
  authorization(ctx: RequestContext): OutboundResult | Promise<OutboundResult>;
  /**
   * The upstream answered 401 `invalid_token` to `authz`, the value this step gave for `ctx`: the
   * step drops it when it still holds it (rate-limited per credential), counts and logs it.
   * `retrying`: the transport will send the request once more if this answers true. True when
   * authorization() would now give another token (dropped now, or already replaced).
   */
  refused(ctx: RequestContext, authz: string, retrying: boolean): boolean;
  /** Lower-case header carrying the caller's own Authorization upstream (egress), or null: dropped. */
  readonly callerHeader: string | null;
}

/** A document the proxy answers itself for GET/HEAD before routing (its JWKS, its discovery document). */
export interface WellKnownDoc {
  readonly body: string;
  readonly cacheControl: string;
}

export interface Snapshot {
  readonly version: number;
  readonly config: Config;
  readonly table: RouteTable;
  readonly upstreams: ReadonlyMap<string, UpstreamPool>;
  readonly auth: AuthStages;
  readonly realm: string;
  /** Per route index: its outbound token step, null for routes without one (no cost for them). */
  readonly outbound: ReadonlyArray<OutboundStep | null>;
  /** `/.well-known/…` documents served before routing; null when the proxy publishes none. */
  readonly wellKnown: ((path: string) => WellKnownDoc | null) | null;
  /** The process's tracer when `tracing.enabled`, else null: the pipeline and listener then skip every tracing step. */
  readonly tracer: Tracer | null;
  /** The policy this snapshot enforces (`v12 sha256:…` or `config-3 sha256:…`, policy-label.ts): every access log line names it. */
  readonly policyLabel: string;
  /** `X-Portcullis-Policy` value on every response, or null (`cluster.policy.response_header` off: nothing written). */
  readonly policyHeader: string | null;
}
