// Public surface of node/ws: proxied WebSockets and the registry that ends WebSockets and
// streamed responses when their token is revoked (anywhere in the cluster) or expires.
export { WsProxy, type WsProxyOptions } from './ws-proxy.js';
export { LiveRegistry, type LiveConnection, type LiveJudge, type LiveScanner, type EndReason, type LiveRegistryOptions, type LiveRegistryStats } from './live-registry.js';
export { BEARER_PROTOCOL_PREFIX, bearerProtocol, parseOfferedProtocols, sendableCloseCode, clampReason, CLOSE, type OfferedProtocols } from './ws-protocol.js';
export { cookieOriginAllowed } from './ws-origin.js';
export { verifyAndAuthorize } from './opaque-recheck.js';
