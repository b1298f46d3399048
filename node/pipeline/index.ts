// Public surface of the request pipeline: createPipeline (pipeline.ts, read it top to bottom
// for a request's order of stages), the per-request context, the snapshot it runs on, the
// token stages extract → authenticate → authorize → mutate with their compile steps, and forward.
export { CONTINUE, headerValue, singleHeader, type RequestContext, type Principal, type StageResult, type CompiledRoute, type ClientCertificate } from './context.js';
export type { TokenVerifier, VerifyOutcome, VerifyOk, VerifyFail } from './token-verifier.js';
export { extract, compileSources, BEARER_ONLY, type CompiledSources } from './extract.js';
export { createAuthenticator, looksLikeJws, type Authenticate, type AuthenticatorDeps, type TokenIntrospector } from './authenticate.js';
export {
  authorize, compilePolicy, judge, hasAll, hasAny, testClaim, rolesOk,
  type CompiledPolicy, type CompiledClaimRule, type CompiledRoles, type ClaimTest,
} from './authorize.js';
export { explainPolicy, type ExplainedRule } from './explain-policy.js';
export { compileClientCertRule, type ClientCertRule } from './client-cert-rule.js';
export {
  mutate, compileMutation, compileIdentityFilter, isIdentityHeader, stripsAuthorization, forwardedQuery, identityHeaderValue,
  DEFAULT_IDENTITY, MAX_IDENTITY_VALUE_BYTES, type CompiledMutation, type IdentityConfig,
} from './mutate.js';
export { compileClaimPath, resolveClaim, containsWord, claimHas, type ClaimPath } from './claim-path.js';
export { checkMethodOverride, METHOD_OVERRIDE_REFUSED } from './method-override.js';
export { createPipeline, type Pipeline, type PipelineSink } from './pipeline.js';
export { forwardedClient } from './forwarded-client.js';
export { requestClient } from './request-client.js';
export { clientKey } from './client-key.js';
export { forwardRequest, connectionNamed, RESPONSE_DROPPED, type UpstreamRequest } from './forward.js';
export { outboundRefused, freshAuthorization, replaceAuthorization, invalidTokenChallenge } from './outbound-refusal.js';
export type { Snapshot, AuthStages, OutboundStep, OutboundResult, WellKnownDoc } from './snapshot.js';
export { policyLabel, POLICY_HEADER } from './policy-label.js';
export { answerMadePrivate, PRIVATE_NAME, PRIVATE_VALUE } from './cache-privacy.js';
export { upstreamChallenges, CHALLENGE_FILTERED } from './upstream-challenge.js';
