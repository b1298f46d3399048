// The shared introspection cache's contract (introspection-sync-actor.ts): what a member's
// introspection client offers it, the two hooks it hands back, and its options. Types only, so
// the introspection client's side (node/) and the wiring can read it without the actor.
import type { IntrospectionResult } from '../../node/contracts/index.js';
import type { Logger } from '../../node/log.js';
import type { Membership } from '../membership/membership.js';
import type { MessageBus } from '../protocol/message-bus.js';

/** What a member's per-issuer introspection client offers the sync (IntrospectionClient fits). */
export interface SharedCacheClient {
  prime(tokenHash: string, result: IntrospectionResult): boolean;
  evict(tokenHash: string): boolean;
  /** Drop the entries of `sub`'s tokens (of token issuer `iss` when not null); the dropped token hashes. */
  dropSubject?(iss: string | null, sub: string): readonly string[];
  /** Drop every cached result (an eviction this build could not read); how many went. */
  dropAll?(): number;
  /** The issuer's cache TTLs, ms; without it the schema defaults (60 s, 5 s) bound results from peers. */
  resultBounds?(): { readonly positiveTtlMs: number; readonly negativeTtlMs: number };
}

/** The `coordinate` hook of IntrospectionClient. */
export type CoordinateHook = (tokenHash: string, call: () => Promise<IntrospectionResult>) => Promise<IntrospectionResult>;
/** The `onResult` hook of IntrospectionClient. */
export type ResultHook = (tokenHash: string, result: IntrospectionResult) => void;

/** What one member's side of the shared cache needs; every duration has a default. */
export interface IntrospectionSyncOptions {
  readonly bus: MessageBus;
  readonly membership: Membership;
  readonly memberId: string;
  readonly logger: Logger;
  /** How long a granted lease stands without a result, ms (default 10 000; keep it above every issuer's introspection timeout_ms). */
  readonly leaseMs?: number;
  /** How long to wait for the owner's answer, ms (default 1 000); then it is asked again if it still beats, else skipped for `suspectMs`. */
  readonly requestTimeoutMs?: number;
  /** How long an unanswering owner is skipped, ms (default 5 000). */
  readonly suspectMs?: number;
  /** How long a member that stopped beating without a goodbye keeps its keys and leases, ms (default 500). */
  readonly departureGraceMs?: number;
  /** Bounds, entries: leases held as owner (default 100 000) and results kept for late askers (default 50 000). */
  readonly maxLeases?: number;
  readonly maxResults?: number;
  /** Bound of the kept results' estimated memory, bytes (default 64 MiB; serve passes `verifier.cache_bytes`). */
  readonly maxResultBytes?: number;
  /** Wall clock, epoch ms (results' expiry, wire times); default Date.now. */
  readonly now?: () => number;
  /** Monotonic clock, ms (lease deadlines and fill waits); default performance.now. */
  readonly mono?: () => number;
}
