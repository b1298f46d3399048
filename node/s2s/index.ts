// Public surface of node/s2s: service-to-service tokens (internal tokens with the proxy's
// own JWKS, RFC 8693 token exchange, egress client credentials).
export { S2sLayer, upstreamAudience, type PreparedS2s, type S2sOptions, type RevocationFeed } from './s2s-layer.js';
export { writeWellKnown, JWKS_PATH, DISCOVERY_PATH, jwksUri } from './well-known.js';
export { checkS2sConfig, routeClientCredentials, withCallerHeaders, RESERVED_CLAIMS } from './s2s-config.js';
