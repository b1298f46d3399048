// Dropping cached introspection results at this member: one token (a `cache.evicted` from any
// member, or our own eviction) or every token of a subject (`cache.subject_dropped`, an IdP's
// token-claims-change). Both clear the registered clients' caches and the results this member
// keeps as a key's owner, or a peer's next lease would get the dropped answer back.
import type { Logger } from '../../node/log.js';
import type { SharedCacheClient } from './introspection-sync-contract.js';
import type { LeaseTable } from './lease-table.js';

/** Evict `key` from every client's cache and the lease table. */
export function evictLocally(clients: Iterable<SharedCacheClient>, leases: LeaseTable, key: string, log: Logger): void {
  for (const client of clients) {
    try { client.evict(key); } catch (err) { log.error({ err }, 'introspection cache evict failed'); }
  }
  leases.evict(key);
}

/** Drop `sub`'s results (of token issuer `iss`; null = any) here; how many cached results went. */
export function dropSubjectLocally(clients: Iterable<SharedCacheClient>, leases: LeaseTable, iss: string | null, sub: string, log: Logger): number {
  let n = 0;
  for (const client of clients) {
    try {
      for (const key of client.dropSubject?.(iss, sub) ?? []) { leases.evict(key); n++; }
    } catch (err) { log.error({ err }, 'introspection cache subject drop failed'); }
  }
  leases.dropSubject(sub);
  return n;
}
