// What a JwtVerifier is built from (JwtVerifierOptions), with the defaults of the optional fields
// that the verifier applies: cache lifetime, inline budget. Read once, at construction.
import type { Logger } from 'pino';
import type { IssuerConfig } from '../config/schema.js';
import type { VerifyEngine } from './types.js';
import type { VerifierMode } from './verify-placement.js';

export interface JwtVerifierOptions {
  issuers: Readonly<Record<string, IssuerConfig>>;
  /** Worker threads; 'auto' = os.availableParallelism(). */
  poolSize: number | 'auto';
  /** Cache bounds; 0 entries disables it. */
  cacheEntries: number;
  cacheBytes: number;
  logger: Logger;
  /** Longest a verified token stays cached, seconds (never past its exp); default 600 s. */
  cacheMaxTtlS?: number;
  /** Signature engine in the workers (see VerifyEngine); default 'node'. */
  engine?: VerifyEngine;
  /** Worker module override (tests). */
  workerFilename?: string;
  concurrentTasksPerWorker?: number;
  /** Largest batch sent to one worker, tokens; default 32. */
  maxBatch?: number;
  /** Where signatures are checked (VerifyPlacement); default 'auto'. */
  mode?: VerifierMode;
  /** Inline verification per event-loop turn in auto mode, µs; default 2000 µs. */
  inlineBudgetUs?: number;
  /** Deadline of a token on the pool, ms (VerifierPoolOptions.taskTimeoutMs); default 5_000 (5 s). */
  taskTimeoutMs?: number;
  /** Proxy processes on this host (serve --workers); default 1. */
  processes?: number;
}

export const DEFAULT_CACHE_MAX_TTL_S = 600; // 10 min
export const DEFAULT_INLINE_BUDGET_US = 2000; // 2 ms of crypto per event-loop turn
