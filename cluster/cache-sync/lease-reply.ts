// The owner's answer to a lease request (introspection.leased): the LeaseTable's decision
// turned into the wire message. A pure function, apart from the actor that sends it, so the
// message shape for each answer (granted, pending with a wait, cached result) reads in one place.
import type { IntrospectionLeased } from '../protocol/cache-messages.js';
import type { LeaseAnswer } from './lease-table.js';

/** The `introspection.leased` reply for `key` given the lease table's answer. */
export function leaseReply(key: string, a: LeaseAnswer): IntrospectionLeased {
  const base = { type: 'introspection.leased', v: 1, key } as const;
  switch (a.status) {
    case 'granted': return { ...base, status: 'granted', active: null, claims: null, expiresAt: null, waitMs: 0 };
    case 'pending': return { ...base, status: 'pending', active: null, claims: null, expiresAt: null, waitMs: a.waitMs };
    // an `iss` a member filled in says so (v2): a reader with require_iss refuses it; a build before v2 cannot read
    // it and asks again, then the server itself (as when the owner does not answer)
    case 'cached': return { ...base, v: a.result.issFilled === true ? 2 : 1, status: 'cached', active: a.result.active, claims: a.result.claims, expiresAt: a.result.expiresAt, waitMs: 0 };
    default: { const never: never = a; return never; }
  }
}
