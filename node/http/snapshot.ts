// The read-only snapshot the request path works from: compiled routes, upstream
// pools and auth stages of one config version. Reload builds a new one and swaps
// the reference; in-flight requests keep the snapshot they started with.
import type { Config } from '../config/index.js';
import type { RequestContext, StageResult } from '../pipeline/context.js';
import type { RouteTable } from '../routing/route-table.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';

/** The token stages (extract → authenticate → authorize → mutate), provided by the auth layer. */
export interface AuthStages {
  extract(ctx: RequestContext): StageResult;
  /** Synchronous on cache hits; never rejects. */
  authenticate(ctx: RequestContext): StageResult | Promise<StageResult>;
  authorize(ctx: RequestContext): StageResult;
  /** Append identity headers for the upstream to `out` (flat name/value list). */
  mutate(ctx: RequestContext, out: string[]): void;
  /** True when the route strips the inbound Authorization header. */
  stripsAuthorization(ctx: RequestContext): boolean;
  /** Client-sent headers that are always removed (identity headers). */
  isIdentityHeader(lowerName: string): boolean;
  /** Keys loaded and revocations replayed: requests can be judged. */
  ready(): boolean;
}

export interface Snapshot {
  readonly version: number;
  readonly config: Config;
  readonly table: RouteTable;
  readonly upstreams: ReadonlyMap<string, UpstreamPool>;
  readonly auth: AuthStages;
  readonly realm: string;
}
