// Public surface of the decision endpoints (forward auth for nginx, Traefik, Caddy, HAProxy
// and Envoy's HTTP ext_authz): the endpoint set the listener consults before routing.
export { DecisionEndpoints, decisionKey, type DecisionOptions } from './decision-endpoints.js';
export type { CallParts, Endpoint } from './decision-call.js';
export { originalMethodError, readOriginal, REPORTING_HEADERS, type Dialect, type DialectSetting, type OriginalRequest, type DecisionCall } from './original-request.js';
export { envoyRemovals, stripsCredentials, tokenFingerprint, verdictHeaders, type DecisionResult } from './decision-sink.js';
export { wsRefusal, type WsRefusal } from './ws-verdict.js';
export { originalContext } from './original-context.js';
export { decodeCheckRequest, encodeCheckResponse, grpcFrame, ProtoError, type CheckRequest, type CheckResponse, type StructValue } from './ext-authz-proto.js';
export { socketPath } from './decision-socket.js';
