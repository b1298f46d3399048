// Public surface of RFC 7662 introspection: one client per issuer, its result and
// stats types, the wire caller and the LRU it caches outcomes in.
export {
  IntrospectionClient, type IntrospectionClientOptions, type IntrospectionStats,
} from './introspection-client.js';
export { IntrospectionCaller, formEncode, type CallAnswer, type CallFailed, type CallFailReason, type IntrospectionConfig } from './introspection-caller.js';
export { IntrospectionCache } from './introspection-cache.js';
