// Public surface of JWT access-token validation (RFC 8725, RFC 9068): the verifier
// the pipeline calls, its outcome types, and the pieces tests and admin code read.
export { JwtVerifier } from './jwt-verifier.js';
export type { JwtVerifierOptions } from './verifier-options.js';
export type { PreparedIssuers } from './issuer-set.js';
export { VerifiedToken } from './verified-token.js';
export { failOutcome, FAIL_CODES, RETRY_AFTER_KEYS_S, RETRY_AFTER_POOL_S, type VerifyOk, type VerifyFail, type VerifyOutcome } from './verify-outcome.js';
export type { FailCode, InvalidCode, UnavailableCode, IssuerPolicy, IssuerBundle, KeyEntry, VerifyTask, VerifyBatch, VerifyEngine, VerifyResult } from './types.js';
export { MAX_TOKEN_BYTES, parseCompact, type ParsedToken, type ParseFailure } from './token-parse.js';
export { JwksActor, issuerPolicy, UNKNOWN_KID_BURST, type JwksCounters } from './jwks-actor.js';
export { sanitizeJwks, makeSnapshot, thumbprint, type KeySetSnapshot } from './jwk-set.js';
export { parseMaxAge, discoveryUrls, metadataEndpoint } from './jwks-fetch.js';
export { TokenCache, type TokenCacheOptions } from './token-cache.js';
export { VerifyPlacement, LOW_LOOP_UTILISATION, BACK_INLINE_UTILISATION, type VerifierMode, type PlacementOptions } from './verify-placement.js';
export { VerifierPool, defaultWorkerFilename, resolvePoolSize, type PoolResult, type VerifierPoolOptions } from './verifier-pool.js';
export { default as verifyBatch, verifyTask, verifyInline } from './verify.worker.js';
export { checkHeader, resolveKey, keyFitsAlg, type KeyLookup, type RuleFailure } from './token-rules.js';
export { importNodeKey, verifyNodeSignature } from './node-signature.js';
