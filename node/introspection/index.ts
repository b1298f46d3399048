// Public surface of RFC 7662 introspection: one client per issuer, its result and
// stats types, the wire caller, the LRU it caches outcomes in, and the per-config set of
// clients with their discovery and reload lifecycle.
export { IntrospectionClient } from './introspection-client.js';
export type { IntrospectionClientOptions } from './introspection-client-options.js';
export type { IntrospectionStats } from './introspection-stats.js';
export { IntrospectionCaller, formEncode, type CallAnswer, type CallFailed, type CallFailReason, type IntrospectionConfig } from './introspection-caller.js';
export { IntrospectionCache, resultSize } from './introspection-cache.js';
export { ExpiryHeap } from './expiry-heap.js';
export { IntrospectionSet, type IntrospectionSetOptions, type PreparedIntrospection } from './introspection-set.js';
export { discoverIntrospection } from './introspection-discovery.js';
