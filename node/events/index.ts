// Public surface of node/events: endpoints where identity providers push events (OpenID Connect
// Back-Channel Logout 1.0, Shared Signals push per RFC 8935), their validation, and the
// revocations they publish through the cluster.
export { EventEndpoints, MAX_EVENT_BODY_BYTES, type EventEndpointsOptions, type EventTarget } from './event-endpoints.js';
export { handleLogout, eventRevocationId, fingerprint, type EventAnswer, type LogoutDeps } from './backchannel-logout.js';
export { checkLogoutClaims, BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TYPS, type LogoutClaimsCheck, type LogoutRequest, type LogoutRules } from './logout-token.js';
export { checkJws, type JwsCheck, type JwsFailCode } from './jws-check.js';
export { handlePush, applyDrop, type DropCached, type PushAnswer, type PushDeps } from './ssf-push.js';
export { checkSetClaims, type SecurityEvent, type SetClaimsCheck, type SetErrorCode, type SetRules } from './ssf-set.js';
export { mapEvent, eventName, actionOf, requestedEvents, DEFAULT_EVENT_ACTIONS, SSF_VERIFICATION, type EventAction } from './ssf-mapping.js';
export { SsfPoller, type PollerDeps } from './ssf-poller.js';
export { sameEndpointUrl } from './endpoint-url-match.js';
export { SsfStreamManager, PUSH_METHOD, POLL_METHOD, STREAM_STATUSES, type StreamDeps, type StreamStatus, type StreamView } from './ssf-stream.js';
