// What a `cache.filled` does at this member once it is judged: the lease on its key ends whoever held it,
// a live result is kept (as owner) and primed into the issuer's client, and the lookups waiting here wake —
// with the result, or, when it expired before it could be used here, to ask the authorization server themselves.
import type { IntrospectionResult } from '../../node/contracts/index.js';
import type { Logger } from '../../node/log.js';
import type { CacheFilled } from '../protocol/cache-messages.js';
import type { FillWaits } from './fill-waits.js';
import { leaseId, type LeaseTable } from './lease-table.js';
import type { SharedCacheClient } from './introspection-sync-contract.js';
import type { SyncCounters } from './sync-stats.js';

/** The member-local state a fill lands in (the actor's). */
export interface FillTarget {
  readonly memberId: string;
  readonly leases: LeaseTable;
  readonly waits: FillWaits;
  readonly clients: ReadonlyMap<string, SharedCacheClient>;
  readonly log: Logger;
  readonly c: SyncCounters;
  readonly now: () => number;
  readonly ownerOf: (key: string) => string;
}

/** Apply fill `msg` whose result, held to this member's rules, is `result` (its own fills included). */
export function applyFill(t: FillTarget, msg: CacheFilled, result: IntrospectionResult): void {
  const id = leaseId(msg.issuer, msg.key);
  if (result.expiresAt <= t.now()) {
    t.c.fills_ignored++;
    // Not kept (negative_ttl_s 0, a short-lived token, a clock ahead of its sender's, a slow bus), yet its holder has its
    // answer: the lease ends here and the lookups waiting here ask the server themselves at once, as when the holder's own
    // answer expires before it is shared — never the expired answer. Before, they sat out the lease (10 s by default).
    t.leases.complete(id, msg.issuer, result, false);
    // newer than an active answer cached here, which goes (the sender's own cache dropped it)
    if (!result.active) {
      try { if (msg.origin !== t.memberId) t.clients.get(msg.issuer)?.evict(msg.key); } catch (err) { t.log.error({ err }, 'introspection cache evict failed'); }
    }
    t.waits.released(id, true);
    return;
  }
  t.leases.complete(id, msg.issuer, result, t.leases.leased(id) || t.ownerOf(msg.key) === t.memberId);
  if (msg.origin !== t.memberId) {
    t.c.fills_received++;
    const client = t.clients.get(msg.issuer);
    if (client !== undefined) {
      try { client.prime(msg.key, result); } catch (err) { t.log.error({ err }, 'introspection cache prime failed'); }
    }
  }
  t.waits.filled(id, result);
}
