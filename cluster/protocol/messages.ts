// The versioned bus messages: plain data, discriminated on `type` (`area.verb`), each
// with a schema version `v` and a fixed field list (the msgpackr record structure).
// Parsers rebuild each message from checked fields; anything else is rejected.
import { REVOCATION_KINDS, type RevocationKind } from './subjects.js';
import { CACHE_ISS_FILLED_SPECS, CACHE_SPECS, CACHE_SUBJECT_DROPPED_SPEC, type CacheMessage } from './cache-messages.js';
import { DPOP_SPECS, type DpopMessage } from './dpop-messages.js';
import { isInt, isNum, isPlainObject, isStr, isStrOrNull, isNumOrNull, type MessageSpec } from './message-spec.js';

/** A revocation as it travels and as the store keeps it (times: `before`/`expiresAt` epoch s, `createdAt` epoch ms). */
export interface RevocationRecord {
  /** Random id chosen at the source; applying is idempotent on it, JetStream dedupes on it. */
  readonly id: string;
  readonly kind: RevocationKind;
  /** jti, SHA-256 hex of the token, sub, client_id, kid, sid (the token's `sid` claim) or, for `sub_without_sid`, a sub. */
  readonly value: string;
  /** Only tokens whose `iss` equals this; null = any issuer. Always null for kind `token`. */
  readonly issuer: string | null;
  /** `sub`/`client_id`/`sub_without_sid` only: tokens with `iat` ≤ before are revoked (the whole second, inclusive). Epoch seconds. */
  readonly before: number | null;
  /** When the last token this can match has expired: epoch seconds. */
  readonly expiresAt: number;
  readonly reason: string | null;
  /** Epoch milliseconds at the source. */
  readonly createdAt: number;
  /** Member id that created it (or `cli:<host>` for the revoke command). */
  readonly origin: string;
}

/**
 * `revocation.added`: one new revocation, published on `<p>.revocations.<kind>`. v1 carries the
 * kinds every member has always known; v2 (same fields) `sid`, v3 (same fields) `sub_without_sid`,
 * so a member that predates a kind drops its message (counted: `unknown_version`, or `malformed`
 * when its build lacks the version's shared record) instead of misreading it.
 */
export interface RevocationAdded extends RevocationRecord {
  readonly type: 'revocation.added';
  readonly v: 1 | 2 | 3;
  /** Epoch milliseconds (fractional) when it was put on the bus: propagation delay is measured from here. */
  readonly publishedAt: number;
}

/**
 * The primary→worker revocation channel of `serve --workers N` (node:cluster IPC, plain data, NATS or
 * not; cluster/revocation/worker-channel.ts). `revocation.handed`: revocations for the worker — one live,
 * or a page of a sync (`last` on its final page: the worker now holds all the primary had when asked).
 * `revocation.overflowed`: the worker's mailbox was full, revocations were dropped: it must ask again.
 * `revocation.tick`: nothing new (sent every 100 ms): the worker's state is complete as of `at`.
 * `revocation.ask` (worker → primary): hand me all of them (booting, or after an overflow).
 * `at`: when the primary sent it, ms on the host's monotonic clock (process.hrtime, one per host):
 * a worker that read it holds every revocation the primary had handed out before then.
 */
export type WorkerChannelMessage =
  | { readonly type: 'revocation.handed'; readonly v: 1; readonly records: readonly RevocationRecord[]; readonly sync: 'live' | 'page' | 'last'; readonly at: number }
  | { readonly type: 'revocation.tick'; readonly v: 1; readonly at: number }
  | { readonly type: 'revocation.overflowed'; readonly v: 1 }
  | { readonly type: 'revocation.ask'; readonly v: 1 };

/** An IPC message of the worker channel, checked (records as strictly as from the bus); null: not one (the supervisor's own). */
export function parseWorkerChannel(m: unknown): WorkerChannelMessage | null {
  if (!isPlainObject(m) || m.v !== 1) return null;
  if (m.type === 'revocation.overflowed' || m.type === 'revocation.ask') return { type: m.type, v: 1 };
  const at = m.at;
  if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) return null;
  if (m.type === 'revocation.tick') return { type: 'revocation.tick', v: 1, at };
  if (m.type !== 'revocation.handed' || !Array.isArray(m.records) || (m.sync !== 'live' && m.sync !== 'page' && m.sync !== 'last')) return null;
  const records: RevocationRecord[] = [];
  for (const x of m.records as unknown[]) { const r = isPlainObject(x) ? parseRevocationRecord(x) : null; if (r !== null) records.push(r); }
  return { type: 'revocation.handed', v: 1, records, sync: m.sync, at };
}

/** What a member does: workers and single instances serve requests, a primary only supervises. */
export type MemberRole = 'single' | 'worker' | 'primary' | 'cli';
const ROLES: readonly MemberRole[] = ['single', 'worker', 'primary', 'cli'];

/** What a member running cluster policy (cluster/policy) says about it in each heartbeat. */
export interface MemberPolicyStatus {
  /** Active cluster version; 0 = none applied yet. */
  readonly version: number;
  readonly digest: string | null;
  /** Why the latest version seen was not applied here; null when it was. */
  readonly error: string | null;
  /** The latest version this member has seen in the bucket. */
  readonly latestSeen: number;
  /** `bus` (applied from the bucket), `state_file` (restarted without NATS: degraded) or `none` yet. */
  readonly from: 'bus' | 'state_file' | 'none';
}
const POLICY_FROM: ReadonlyArray<MemberPolicyStatus['from']> = ['bus', 'state_file', 'none'];

/**
 * `member.heartbeat`: sent every `intervalMs` on `<p>.members`. v2 (sent since cluster policy)
 * adds `policy`: the member's policy status, null for a member without cluster policy (a
 * single-file instance, a worker whose primary speaks for it). v1 is still understood.
 */
export type MemberHeartbeat = MemberHeartbeatV1 | MemberHeartbeatV2 | MemberHeartbeatV3;

export interface MemberHeartbeatV1 {
  readonly type: 'member.heartbeat';
  readonly v: 1;
  readonly id: string;
  readonly role: MemberRole;
  readonly host: string;
  readonly pid: number;
  /** Epoch ms when the member started. */
  readonly startedAt: number;
  readonly seq: number;
  readonly intervalMs: number;
}

export interface MemberHeartbeatV2 extends Omit<MemberHeartbeatV1, 'v'> {
  readonly v: 2;
  readonly policy: MemberPolicyStatus | null;
}

/**
 * v3 (sent only by a member with `cluster.revocation.direct`) adds `direct`: the `host:port` its
 * direct revocation push listens on. Members of builds before v3 drop it as an unknown version:
 * turn `direct` on only once every member runs a build that knows v3.
 */
export interface MemberHeartbeatV3 extends Omit<MemberHeartbeatV2, 'v'> {
  readonly v: 3;
  readonly direct: string;
}

/** `member.left`: a member closes cleanly; others drop it at once instead of after 3 missed beats. */
export interface MemberLeft {
  readonly type: 'member.left';
  readonly v: 1;
  readonly id: string;
}

/** Every message that can cross the bus. */
export type BusMessage = RevocationAdded | MemberHeartbeat | MemberLeft | CacheMessage | DpopMessage;
/** The `type` discriminator of any bus message. */
export type BusMessageType = BusMessage['type'];

const MAX_ID = 128;
const MAX_VALUE = 1024;
const MAX_REASON = 512;
const KINDS: ReadonlySet<string> = new Set(REVOCATION_KINDS);
/** Kinds `revocation.added` v1 may carry (what members before v2 understand). */
const V1_KINDS: ReadonlySet<string> = new Set(['jti', 'token', 'sub', 'client_id', 'kid']);
/** Kinds v2 may carry (what members before v3 understand besides v1's). */
const V2_KINDS: ReadonlySet<string> = new Set(['sid']);

/** The wire version a record of this kind travels with: 1 for the original kinds, 2 for `sid`, 3 for `sub_without_sid`. */
export function revocationVersion(kind: RevocationKind): 1 | 2 | 3 {
  return V1_KINDS.has(kind) ? 1 : V2_KINDS.has(kind) ? 2 : 3;
}

/** Kinds that carry a cut (`before`): sub, client_id and sub_without_sid. */
export function isCutKind(kind: RevocationKind): kind is 'sub' | 'client_id' | 'sub_without_sid' {
  return kind === 'sub' || kind === 'client_id' || kind === 'sub_without_sid';
}

/** A record as a `revocation.added` message with the version its kind needs. */
export function revocationAdded(r: RevocationRecord, publishedAt: number): RevocationAdded {
  return { type: 'revocation.added', v: revocationVersion(r.kind), ...r, publishedAt };
}
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Check the fields shared by `revocation.added` and snapshot entries; null when any is wrong. */
export function parseRevocationRecord(o: Record<string, unknown>): RevocationRecord | null {
  const { id, kind, value, issuer, before, expiresAt, reason, createdAt, origin } = o;
  if (!isStr(id, MAX_ID) || id === '' || typeof kind !== 'string' || !KINDS.has(kind)) return null;
  if (!isStr(value, MAX_VALUE) || value === '' || !isStrOrNull(issuer, MAX_VALUE) || !isNumOrNull(before)) return null;
  if (!isNum(expiresAt) || !isStrOrNull(reason, MAX_REASON) || !isNum(createdAt) || !isStr(origin, MAX_ID)) return null;
  // Control characters never occur in a jti/sub/kid/iss; `\n` separates issuer and value in store keys.
  if (CONTROL.test(value) || (issuer !== null && CONTROL.test(issuer))) return null;
  const k = kind as RevocationKind;
  if ((before !== null) !== isCutKind(k)) return null;
  if (k === 'token' && (issuer !== null || !/^[0-9a-f]{64}$/.test(value))) return null;
  return { id, kind: k, value, issuer, before, expiresAt, reason, createdAt, origin };
}

const RECORD_FIELDS = ['id', 'kind', 'value', 'issuer', 'before', 'expiresAt', 'reason', 'createdAt', 'origin'] as const;

const HEARTBEAT_FIELDS = ['type', 'v', 'id', 'role', 'host', 'pid', 'startedAt', 'seq', 'intervalMs'] as const;

const CORE_SPECS: ReadonlyArray<MessageSpec<BusMessage>> = [
  {
    type: 'revocation.added', v: 1,
    fields: ['type', 'v', ...RECORD_FIELDS, 'publishedAt'],
    parse: (o) => {
      const r = parseRevocationRecord(o);
      if (r === null || !V1_KINDS.has(r.kind) || !isNum(o.publishedAt)) return null;
      return { type: 'revocation.added', v: 1, ...r, publishedAt: o.publishedAt };
    },
  },
  // Retired: the IPC hub's paged sync over the bus, replaced by the worker channel (worker-channel.ts).
  // The slots keep the shared structure ids of the specs after them.
  { type: 'retired.revocation.sync', v: 1, fields: ['type', 'v', 'member', 'afterCreatedAt', 'afterId'], parse: () => null },
  { type: 'retired.revocation.snapshot', v: 1, fields: ['type', 'v', 'entries', 'more'], parse: () => null },
  {
    type: 'member.heartbeat', v: 1,
    fields: HEARTBEAT_FIELDS,
    parse: (o) => {
      const h = parseHeartbeat(o);
      return h === null ? null : { type: 'member.heartbeat', v: 1, ...h };
    },
  },
  {
    type: 'member.left', v: 1,
    fields: ['type', 'v', 'id'],
    parse: (o) => (isStr(o.id, MAX_ID) && o.id !== '' ? { type: 'member.left', v: 1, id: o.id } : null),
  },
  {
    // Retired: `policy.updated` was declared and never sent (cluster policy travels in a
    // JetStream KV bucket). The slot keeps the shared structure ids of the specs after it.
    type: 'retired.policy.updated', v: 1,
    fields: ['type', 'v', 'version', 'origin', 'loadedAt'],
    parse: () => null,
  },
];

function parseHeartbeat(o: Record<string, unknown>): Omit<MemberHeartbeatV1, 'type' | 'v'> | null {
  const { id, role, host, pid, startedAt, seq, intervalMs } = o;
  if (!isStr(id, MAX_ID) || id === '' || !ROLES.includes(role as MemberRole) || !isStr(host, 255)) return null;
  if (!isInt(pid) || !isNum(startedAt) || !isInt(seq) || !isInt(intervalMs) || intervalMs <= 0) return null;
  return { id, role: role as MemberRole, host, pid, startedAt, seq, intervalMs };
}

/** A heartbeat's `policy` field: null, or every field checked (an error text at most 2 KiB). */
function parsePolicyStatus(p: unknown): MemberPolicyStatus | null | undefined {
  if (p === null) return null;
  if (p === undefined || typeof p !== 'object' || Array.isArray(p)) return undefined;
  const { version, digest, error, latestSeen, from } = p as Record<string, unknown>;
  if (!isInt(version) || !isInt(latestSeen) || !POLICY_FROM.includes(from as MemberPolicyStatus['from'])) return undefined;
  if (!(digest === null || (typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest))) || !isStrOrNull(error, 2048)) return undefined;
  return { version, digest, error, latestSeen, from: from as MemberPolicyStatus['from'] };
}

/** Specs added after the cache and DPoP ones (append-only, see MESSAGE_SPECS). */
const LATER_SPECS: ReadonlyArray<MessageSpec<BusMessage>> = [
  {
    type: 'member.heartbeat', v: 2,
    fields: [...HEARTBEAT_FIELDS, 'policy'],
    parse: (o) => {
      const h = parseHeartbeat(o);
      const policy = parsePolicyStatus(o.policy);
      return h === null || policy === undefined ? null : { type: 'member.heartbeat', v: 2, ...h, policy };
    },
  },
  CACHE_SUBJECT_DROPPED_SPEC as MessageSpec<BusMessage>,
  {
    type: 'member.heartbeat', v: 3,
    fields: [...HEARTBEAT_FIELDS, 'policy', 'direct'],
    parse: (o) => {
      const h = parseHeartbeat(o);
      const policy = parsePolicyStatus(o.policy);
      if (h === null || policy === undefined || !isStr(o.direct, 300) || !/^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):\d{1,5}$/.test(o.direct)) return null;
      return { type: 'member.heartbeat', v: 3, ...h, policy, direct: o.direct };
    },
  },
];

/** `revocation.added` v2: same fields as v1, only `sid` (another kind in a v2 message is malformed: one spelling per record). */
const REVOCATION_ADDED_V2: MessageSpec<BusMessage> = {
  type: 'revocation.added', v: 2,
  fields: ['type', 'v', ...RECORD_FIELDS, 'publishedAt'],
  parse: (o) => {
    const r = parseRevocationRecord(o);
    if (r === null || !V2_KINDS.has(r.kind) || !isNum(o.publishedAt)) return null;
    return { type: 'revocation.added', v: 2, ...r, publishedAt: o.publishedAt };
  },
};

/**
 * `revocation.added` v3: the same fields, only `sub_without_sid`. Its own version so a member of an older
 * build never reads it as something else: it drops it, counted (see RevocationAdded). Last in the list.
 * The fields in another order on purpose: msgpackr writes a message under the LAST shared record with its
 * field sequence, so with v1's order every v1/v2 revocation would go out under this record id, one the
 * previous release does not know — it could read none of this build's revocations.
 */
const REVOCATION_ADDED_V3: MessageSpec<BusMessage> = {
  type: 'revocation.added', v: 3,
  fields: ['type', 'v', 'kind', 'id', 'value', 'issuer', 'before', 'expiresAt', 'reason', 'createdAt', 'origin', 'publishedAt'],
  parse: (o) => {
    const r = parseRevocationRecord(o);
    if (r === null || revocationVersion(r.kind) !== 3 || !isNum(o.publishedAt)) return null;
    return { type: 'revocation.added', v: 3, ...r, publishedAt: o.publishedAt };
  },
};

/**
 * Every (type, v) the codec understands. The order defines the shared msgpackr
 * structures: APPEND ONLY — reordering breaks decoding between members of different builds.
 */
export const MESSAGE_SPECS: ReadonlyArray<MessageSpec<BusMessage>> = [
  ...CORE_SPECS, ...(CACHE_SPECS as ReadonlyArray<MessageSpec<BusMessage>>), ...(DPOP_SPECS as ReadonlyArray<MessageSpec<BusMessage>>), REVOCATION_ADDED_V2, ...LATER_SPECS, REVOCATION_ADDED_V3,
];

/**
 * Versions that travel in an earlier version's record (the same fields, in the same order): the codec reads and
 * writes them but gives them no shared structure, so an older build decodes them far enough to see their type
 * and drop them as `unknown_version` (a new structure would be `malformed` there, of no known type). Any order.
 */
export const SAME_RECORD_SPECS: ReadonlyArray<MessageSpec<BusMessage>> = [...(CACHE_ISS_FILLED_SPECS as ReadonlyArray<MessageSpec<BusMessage>>)];
