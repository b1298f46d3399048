// What one issuer's IntrospectionClient is built from (IntrospectionClientOptions: config, cache bounds,
// hooks for the cluster), with the defaults the client applies. Read once, at construction.
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { IssuerConfig } from '../config/index.js';
import type { IntrospectionResult } from '../contracts/index.js';

export interface IntrospectionClientOptions {
  /** Config name of the issuer (key in `issuers:`); becomes `Principal.issuer`. */
  name: string;
  /** The issuer's config; its `introspection` section is required. */
  issuer: IssuerConfig;
  /** Endpoint found by discovery; `introspection.endpoint` in the config wins. Null: set later with setEndpoint. */
  endpoint?: string | null;
  /** Where `client_secret_env` is read; default process.env (read once, here). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Cache bound, entries (LRU); default 100 000, 0 disables the cache. */
  maxEntries?: number;
  /** Cache bound, estimated bytes (claims JSON + ~600 B per entry); default unbounded (only maxEntries). */
  maxBytes?: number;
  /** Retry-After sent with 503s when the authorization server fails, seconds; default 5. */
  retryAfterS?: number;
  /** Largest introspection response read, bytes; default 256 KiB (larger → failure). */
  maxResponseBytes?: number;
  /** undici dispatcher; default a keep-alive Agent owned (and closed) by this client. */
  dispatcher?: Dispatcher;
  logger?: Logger;
  /** Clock, epoch ms; default Date.now (tests move time with it). */
  now?: () => number;
  /** Called after every answered call (active or not), e.g. to broadcast `cache.filled`. Never for failures. */
  onResult?: (tokenHash: string, result: IntrospectionResult) => void;
  /**
   * Wraps the call to the authorization server, e.g. to ask the cluster owner of `tokenHash`
   * first (owner-based single-flight); it may resolve with another member's result or run `call`.
   * A rejection counts as an authorization-server failure (503). Default: `call()`.
   */
  coordinate?: (tokenHash: string, call: () => Promise<IntrospectionResult>) => Promise<IntrospectionResult>;
}

export const DEFAULT_MAX_ENTRIES = 100_000;
export const DEFAULT_RETRY_AFTER_S = 5;
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024; // 256 KiB
