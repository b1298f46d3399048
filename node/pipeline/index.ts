// Public surface of the request pipeline: the per-request context, and the token
// stages extract → authenticate → authorize → mutate with their compile steps.
export { CONTINUE, headerValue, headerCount, type RequestContext, type Principal, type StageResult, type CompiledRoute } from './context.js';
export type { TokenVerifier, VerifyOutcome, VerifyOk, VerifyFail } from './token-verifier.js';
export { extract, compileSources, BEARER_ONLY, type CompiledSources } from './extract.js';
export { createAuthenticator, looksLikeJws, type Authenticate, type AuthenticatorDeps, type TokenIntrospector } from './authenticate.js';
export {
  authorize, compilePolicy, judge, hasAll, hasAny, testClaim, rolesOk,
  type CompiledPolicy, type CompiledClaimRule, type CompiledRoles, type ClaimTest,
} from './authorize.js';
export { explainPolicy, type ExplainedRule } from './explain-policy.js';
export {
  mutate, compileMutation, compileIdentityFilter, isIdentityHeader, stripsAuthorization, forwardedQuery, identityHeaderValue,
  DEFAULT_IDENTITY, MAX_IDENTITY_VALUE_BYTES, type CompiledMutation, type IdentityConfig,
} from './mutate.js';
export { compileClaimPath, resolveClaim, containsWord, claimHas, type ClaimPath } from './claim-path.js';
