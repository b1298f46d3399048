// Plain-data types shared by the main thread and the verifier workers: stable
// failure codes, the issuer policy a worker applies, and the worker task/result.
import type { JWK } from 'jose';

/** Stable reasons a token is refused; used in logs, metrics (`verify_failed_<code>`) and tests. */
export type InvalidCode =
  | 'oversized' | 'malformed' | 'alg_not_allowed' | 'unknown_kid' | 'bad_signature'
  | 'crit_unsupported' | 'bad_typ' | 'wrong_issuer' | 'wrong_audience' | 'missing_exp'
  | 'expired' | 'not_yet_valid' | 'iat_in_future' | 'lifetime_exceeded';

/** Reasons the token could not be judged (answered 503, never 401). */
export type UnavailableCode = 'keys_unavailable' | 'jwks_refetch_timeout' | 'jwks_refetch_failed' | 'pool_failure' | 'pool_overloaded' | 'pool_timeout' | 'internal';

export type FailCode = InvalidCode | UnavailableCode;

/** The claim and header rules of one issuer, as the worker applies them (seconds throughout). */
export interface IssuerPolicy {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly clockSkewS: number;
  /** null = no limit on exp − iat. */
  readonly maxLifetimeS: number | null;
  /** Require `typ` at+jwt / application/at+jwt (RFC 9068 §4). */
  readonly requireTyp: boolean;
}

/** A public verification key and its stable id (the kid, or `~` + RFC 7638 thumbprint when the key has none). */
export interface KeyEntry {
  readonly id: string;
  readonly jwk: Readonly<JWK>;
  /**
   * The id, the key material and its alg: `<id>#<RFC 7638 thumbprint>[#<alg>]`. An issuer may publish
   * new material (or narrow the alg) under an old kid; a cached verification holds the ref, so it
   * dies with what verified it, not with the kid.
   */
  readonly ref: string;
}

/** What a worker needs per (issuer, version): sent once per key-set change, not per request. */
export interface IssuerBundle {
  readonly version: number;
  readonly policy: IssuerPolicy;
  readonly keys: readonly KeyEntry[];
}

/** One verification; `install` is attached only after the worker answered `need_keys`. */
export interface VerifyTask {
  readonly token: string;
  /** Configured issuer name (key in `issuers:`). */
  readonly issuer: string;
  readonly version: number;
  /** Seconds since epoch, taken on the main thread (one clock for cache and worker). */
  readonly now: number;
  readonly install?: IssuerBundle;
}

/**
 * How a worker checks signatures: `node` = node:crypto one-shot verify on the worker thread
 * (synchronous, so crypto scales with the pool); `jose` = jose compactVerify (WebCrypto, whose
 * jobs run on libuv's shared threadpool). Same checks either way; tests run both.
 */
export type VerifyEngine = 'node' | 'jose';

/** One message to a worker: the tasks gathered in one event-loop turn. */
export interface VerifyBatch {
  readonly engine: VerifyEngine;
  readonly tasks: readonly VerifyTask[];
}

export type VerifyResult =
  | {
    readonly ok: true; readonly claims: Record<string, unknown>;
    /** The header's kid, else the verifying key's kid (revocation by kid); null when neither has one. */
    readonly kid: string | null;
    /** The verifying key's ref (KeyEntry.ref: id and material). */
    readonly keyId: string;
    /** SHA-256 hex of the token's other valid spelling (ECDSA's (r, n − s), signature-twin.ts), else null. */
    readonly twin: string | null;
  }
  | { readonly ok: false; readonly code: InvalidCode | 'need_keys' | 'internal'; readonly message: string };
