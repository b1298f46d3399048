// Messages of the shared introspection cache on `<p>.cache.introspection` and the
// owner request/reply subjects. Keys are SHA-256 hex of the token: raw tokens never
// travel. First cut for the cache-sync actor; extend by appending specs.
import { isInt, isNum, isNumOrNull, isPlainObject, isStr, type MessageSpec } from './message-spec.js';

/** `cache.filled`: an introspection result, so every member serves the token from memory. */
export interface CacheFilled {
  readonly type: 'cache.filled';
  readonly v: 1;
  /** SHA-256 hex of the token. */
  readonly key: string;
  /** Configured issuer name. */
  readonly issuer: string;
  readonly active: boolean;
  /** The introspection response (plain JSON object); null when inactive. */
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Epoch ms after which the result must not be used (bounded by `exp` and the cache TTL). */
  readonly expiresAt: number;
  readonly origin: string;
}

/** `cache.evicted`: drop this key everywhere (revoked, or the owner saw it turn inactive). */
export interface CacheEvicted {
  readonly type: 'cache.evicted';
  readonly v: 1;
  readonly key: string;
  readonly origin: string;
}

/**
 * `cache.subject_dropped`: drop the cached results of this subject's tokens everywhere (an identity
 * provider's CAEP token-claims-change: the next request is introspected again).
 */
export interface CacheSubjectDropped {
  readonly type: 'cache.subject_dropped';
  readonly v: 1;
  /** Token issuer (`iss` URL) the subject belongs to; '' = tokens of any issuer. */
  readonly iss: string;
  readonly sub: string;
  readonly origin: string;
}

/** `introspection.lease`: request to the key's owner: may I introspect this token? */
export interface IntrospectionLease {
  readonly type: 'introspection.lease';
  readonly v: 1;
  readonly key: string;
  readonly issuer: string;
  readonly member: string;
}

/** `introspection.leased`: the owner's answer — `granted` (go, then broadcast), `pending` (wait for `cache.filled`), `cached` (here it is). */
export interface IntrospectionLeased {
  readonly type: 'introspection.leased';
  readonly v: 1;
  readonly key: string;
  readonly status: 'granted' | 'pending' | 'cached';
  /** Set when `cached`; null otherwise. */
  readonly active: boolean | null;
  readonly claims: Readonly<Record<string, unknown>> | null;
  readonly expiresAt: number | null;
  /** For `pending`: how long the holder's lease still runs, ms. */
  readonly waitMs: number;
}

/**
 * `introspection.released`: the lease `member` held on this key ends without a result
 * (its call failed, its answer was evicted mid-flight, or it left the cluster). Broadcast
 * on `<p>.cache.introspection`: the owner frees the lease, waiting members ask again —
 * or, when `failed`, call the authorization server themselves instead of queueing behind it.
 */
export interface IntrospectionReleased {
  readonly type: 'introspection.released';
  readonly v: 1;
  readonly key: string;
  readonly issuer: string;
  /** The lease holder. */
  readonly member: string;
  /** The holder's call to the authorization server failed. */
  readonly failed: boolean;
  readonly origin: string;
}

/** Every cache-sync message. */
export type CacheMessage = CacheFilled | CacheEvicted | IntrospectionLease | IntrospectionLeased | IntrospectionReleased | CacheSubjectDropped;

const HEX64 = /^[0-9a-f]{64}$/;
const isKey = (x: unknown): x is string => typeof x === 'string' && HEX64.test(x);
const isClaims = (x: unknown): x is Record<string, unknown> | null => x === null || isPlainObject(x);

/** Specs appended after the core ones in messages.ts (order is part of the wire format). */
export const CACHE_SPECS: ReadonlyArray<MessageSpec<CacheMessage>> = [
  {
    type: 'cache.filled', v: 1,
    fields: ['type', 'v', 'key', 'issuer', 'active', 'claims', 'expiresAt', 'origin'],
    parse: (o) => (isKey(o.key) && isStr(o.issuer, 256) && typeof o.active === 'boolean' && isClaims(o.claims) && isNum(o.expiresAt) && isStr(o.origin, 128)
      ? { type: 'cache.filled', v: 1, key: o.key, issuer: o.issuer, active: o.active, claims: o.claims, expiresAt: o.expiresAt, origin: o.origin } : null),
  },
  {
    type: 'cache.evicted', v: 1,
    fields: ['type', 'v', 'key', 'origin'],
    parse: (o) => (isKey(o.key) && isStr(o.origin, 128) ? { type: 'cache.evicted', v: 1, key: o.key, origin: o.origin } : null),
  },
  {
    type: 'introspection.lease', v: 1,
    fields: ['type', 'v', 'key', 'issuer', 'member'],
    parse: (o) => (isKey(o.key) && isStr(o.issuer, 256) && isStr(o.member, 128)
      ? { type: 'introspection.lease', v: 1, key: o.key, issuer: o.issuer, member: o.member } : null),
  },
  {
    type: 'introspection.leased', v: 1,
    fields: ['type', 'v', 'key', 'status', 'active', 'claims', 'expiresAt', 'waitMs'],
    parse: (o) => {
      const { key, status, active, claims, expiresAt, waitMs } = o;
      if (!isKey(key) || (status !== 'granted' && status !== 'pending' && status !== 'cached')) return null;
      if (!(active === null || typeof active === 'boolean') || !isClaims(claims) || !isNumOrNull(expiresAt) || !isInt(waitMs)) return null;
      if (status === 'cached' && (active === null || expiresAt === null)) return null;
      return { type: 'introspection.leased', v: 1, key, status, active, claims, expiresAt, waitMs };
    },
  },
  {
    type: 'introspection.released', v: 1,
    fields: ['type', 'v', 'key', 'issuer', 'member', 'failed', 'origin'],
    parse: (o) => (isKey(o.key) && isStr(o.issuer, 256) && isStr(o.member, 128) && typeof o.failed === 'boolean' && isStr(o.origin, 128)
      ? { type: 'introspection.released', v: 1, key: o.key, issuer: o.issuer, member: o.member, failed: o.failed, origin: o.origin } : null),
  },
];

/** `cache.subject_dropped` v1: appended to the later specs in messages.ts (structure order is append-only). */
export const CACHE_SUBJECT_DROPPED_SPEC: MessageSpec<CacheMessage> = {
  type: 'cache.subject_dropped', v: 1,
  fields: ['type', 'v', 'iss', 'sub', 'origin'],
  parse: (o) => (typeof o.iss === 'string' && o.iss.length <= 1024 && isStr(o.sub, 1024) && isStr(o.origin, 128)
    ? { type: 'cache.subject_dropped', v: 1, iss: o.iss, sub: o.sub, origin: o.origin } : null),
};
