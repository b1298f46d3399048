// Public surface of node/contracts: the types that cross from one proxy instance to the
// cluster around it. node/ defines them, cluster/ implements them; node/ never imports cluster/.
export { tokenFacts, clientOf, factString, factIat, identityClaimsMalformed, parentClaim, parentFacts, PARENT_CLAIM, MAX_PARENT_DEPTH, type TokenFacts } from './token-facts.js';
export { notAnAccessToken } from './token-kind.js';
export { isCompactToken, carriesCompactToken, pathWithoutTokens, rawPathWithoutTokens } from './token-shape.js';
export type { TokenState, RevokedEntry, GateVerdict } from './token-state.js';
export type { IntrospectionResult, IntrospectionSharing, IntrospectionCacheLink } from './introspection-sharing.js';
export type { ReplayVerdict, ReplayClaims, ReplayPeers, ReplaySharing } from './replay-sharing.js';
export type { ClusterStatus } from './cluster-status.js';
export type { PublishOutcome, RevocationInput, RevocationPublisher } from './revocation-publisher.js';
export { CUT_AHEAD_S } from './revocation-publisher.js';
export { MIN_KEY_BYTES } from './bus-key.js';
export type { PolicyVersion } from './policy-version.js';
export { shownEnvName } from './env-name.js';
export { WallOffsetWatch, inheritedWallOffsetMs, WALL_OFFSET_ENV } from './wall-offset.js';
