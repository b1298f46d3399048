// Public surface of cluster/cache-sync: the shared introspection cache (owner-based
// single-flight over the bus, fills and evictions broadcast) and its rendezvous hash.
export {
  IntrospectionSync, type CoordinateHook, type IntrospectionSyncOptions, type ResultHook, type SharedCacheClient,
} from './introspection-sync-actor.js';
export { rendezvousOwner } from './rendezvous.js';
export { LeaseTable, leaseId, type LeaseAnswer, type LeaseTableOptions } from './lease-table.js';
export { boundResult, DEFAULT_TTLS, MAX_CLAIMS_CHARS, type ResultTtls } from './fill-bounds.js';
