// What a member's view holds of one peer (MemberInfo), how long a peer's declared heartbeat period is
// believed, and which roles serve requests: the data of the view, apart from the heartbeats that fill it.
import type { MemberPolicyStatus, MemberRole } from '../protocol/messages.js';

/** What the view knows about one member. */
export interface MemberInfo {
  readonly id: string;
  readonly role: MemberRole;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: number;
  /** When the last heartbeat was heard, this process's monotonic ms (performance.now): only its age means anything. */
  readonly lastSeen: number;
  readonly intervalMs: number;
  /** Its cluster policy status (heartbeat v2); null without cluster policy or from an older build (v1). */
  readonly policy: MemberPolicyStatus | null;
  /** Where its direct revocation push listens, `host:port` (heartbeat v3); null when it has none. */
  readonly direct: string | null;
}

/**
 * Longest heartbeat period a peer's beat is believed for, ms: 10 s (the most `cluster.heartbeat_ms` allows). A beat declaring
 * more — a key holder's, or junk from a newer build — kept a member that then died in every view (owning
 * introspection keys, pushed to) for 3 of its periods: with 2^53 ms, until the process restarted.
 */
export const MAX_PEER_INTERVAL_MS = 10_000;

/**
 * Most members one view holds: 1024 (every process counts: `serve --workers N` is N members). A heartbeat of a new id
 * past it is refused and counted. Before, someone holding the bus key could announce any number of invented ids — each
 * join re-sorts the view and tells every listener, so 6 000 of them held a member's event loop ~14 s and the view grew
 * without bound (`test/integration/cluster/member-view-bound.test.ts`).
 */
export const MAX_VIEW_MEMBERS = 1024;

/** Roles that serve requests (and so may own introspection keys). */
export const SERVING: ReadonlySet<MemberRole> = new Set(['single', 'worker']);
