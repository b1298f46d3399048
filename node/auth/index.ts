// Public surface of node/auth: the auth side of one config (token check + DPoP + policies as the
// pipeline's AuthStages, with its two-step reload), the token check alone, issuer readiness, and
// `explain` (which route, which rule, why), and which page origins may use a cookie token.
export { createAuth, type Auth, type AuthOptions, type PreparedAuth } from './auth-stages.js';
export { createTokenCheck, waitingIssuers, type TokenCheck, type TokenCheckOptions, type PreparedTokenCheck, type IssuerReadiness } from './token-check.js';
export { explainAdminCall, explainRequest, formatExplain, type ExplainAnswer } from './explain-request.js';
export { cookieRequestAllowed, pageOriginAllowed, CROSS_ORIGIN } from './cookie-origin.js';
