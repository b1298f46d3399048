// The asker's half of a lease exchange (the owner's half: lease-reply.ts): `introspection.lease`
// sent to the key's owner over the bus, and its `introspection.leased` reply read back as a
// LeaseAnswer — a cached result only once held to this member's rules for the issuer.
import type { IntrospectionResult } from '../../node/contracts/index.js';
import type { Logger } from '../../node/log.js';
import type { MessageBus } from '../protocol/message-bus.js';
import type { BusMessage } from '../protocol/messages.js';
import type { LeaseAnswer } from './lease-table.js';

/** What the asking member sends and how long it waits. */
export interface LeaseRequest {
  readonly owner: string;
  readonly issuer: string;
  readonly key: string;
  /** The asking member (the lease's holder when granted). */
  readonly member: string;
  /** Wait for the owner's reply, ms. */
  readonly timeoutMs: number;
  /** A pending answer's wait is capped by the lease time, ms. */
  readonly leaseMs: number;
}

/**
 * Ask `r.owner` for a lease: its answer, `slow` on a timeout, null when it cannot answer (no
 * responders, bus down) or its cached result is refused by `bound` (counted there); `granted` (counted
 * by `noIssV1`) for an older build's cached answer without `iss`, which this member asks the server about itself.
 */
export async function askOwner(bus: MessageBus, r: LeaseRequest, now: () => number, bound: (result: IntrospectionResult, subject: string, type: string) => IntrospectionResult | null, log: Logger, noIssV1: () => void): Promise<LeaseAnswer | 'slow' | null> {
  let subject: string;
  let reply: BusMessage;
  try {
    subject = bus.subjects.introspectionOwner(r.owner); // throws on an id that is no subject token: no owner to ask
    reply = await bus.request(subject, { type: 'introspection.lease', v: 1, key: r.key, issuer: r.issuer, member: r.member }, r.timeoutMs);
  } catch (err) {
    const code = (err as { code?: string }).code;
    log.debug({ owner: r.owner, code, fingerprint: r.key.slice(0, 16) }, 'introspection owner did not answer');
    return code === 'BUS_TIMEOUT' ? 'slow' : null;
  }
  if (reply.type !== 'introspection.leased' || reply.key !== r.key) return null;
  switch (reply.status) {
    case 'granted': return { status: 'granted' };
    case 'pending': return { status: 'pending', waitMs: Math.min(reply.waitMs, r.leaseMs) };
    case 'cached': {
      // An expired result is never used: ask again (the owner drops it on read).
      if (reply.active === null || reply.expiresAt === null || reply.expiresAt <= now()) return { status: 'pending', waitMs: 0 };
      // an older build's (v1) active answer without `iss`: its sharer may have refused it under require_iss, or its
      // issuer name may mean another issuer there — never taken as this member's issuer's: call the server instead
      if (reply.v === 1 && reply.active && reply.claims !== null && reply.claims.iss === undefined) { noIssV1(); return { status: 'granted' }; }
      const result = bound({ active: reply.active, claims: reply.claims, expiresAt: reply.expiresAt, issFilled: reply.v === 2 }, subject, reply.type);
      return result === null ? null : { status: 'cached', result };
    }
    default: { const never: never = reply.status; return never; }
  }
}
