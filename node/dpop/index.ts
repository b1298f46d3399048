// Public surface of node/dpop: DPoP (RFC 9449) sender-constrained tokens — the stage the
// auth layer runs after authenticate, the route policy, the proof verifier and the replay
// check (local cache, cluster sharing over the bus).
export { DpopStage, boundJkt, unenforceableBinding, type DpopStageOptions, type PreparedDpop } from './dpop-stage.js';
export { compileDpopPolicy, DEFAULT_DPOP_POLICY, type DpopPolicy } from './dpop-policy.js';
export { verifyProof, PROOF_FAILURES, MAX_JTI_CHARS, type ProofRequest, type ProofSettings, type ProofResult, type ProofReason } from './proof-verifier.js';
export { checkProofJwk, ProofKeyCache, type ProofKey, type JwkFailure } from './proof-key.js';
export { clientOrigin, requestOrigin, htuMatches, MAX_HTU_CHARS } from './htu.js';
export { NonceSource, MIN_NONCE_SECRET_BYTES } from './nonce.js';
export { ReplayCache, type ReplayCacheStats } from './replay-cache.js';
export { ReplayGuard, type ReplayGuardStats } from './replay-guard.js';
