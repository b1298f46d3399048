// Messages of the shared introspection cache on `<p>.cache.introspection` and the
// owner request/reply subjects. Keys are SHA-256 hex of the token: raw tokens never
// travel. First cut for the cache-sync actor; extend by appending specs.
import { isInt, isNum, isNumOrNull, isPlainObject, isStr, type MessageSpec } from './message-spec.js';

/**
 * `cache.filled`: an introspection result, so every member serves the token from memory. v1: claims as the
 * authorization server answered them (or, from a build before this one, with an `iss` its sharer may have filled
 * in); v2 (same fields, same record): active, and its `iss` was filled in by the sharer — the server named none.
 */
export interface CacheFilled {
  readonly type: 'cache.filled';
  readonly v: 1 | 2;
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
  /** 2 (same fields, same record): `cached`, active, with an `iss` the sharer filled in (as `cache.filled` v2). */
  readonly v: 1 | 2;
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
/** A v2 answer is active with a filled-in string `iss`: anything else claiming v2 is malformed. */
const filledIss = (active: unknown, claims: unknown): boolean => active === true && isPlainObject(claims) && typeof claims.iss === 'string';

const FILLED_FIELDS = ['type', 'v', 'key', 'issuer', 'active', 'claims', 'expiresAt', 'origin'] as const;
const LEASED_FIELDS = ['type', 'v', 'key', 'status', 'active', 'claims', 'expiresAt', 'waitMs'] as const;

function parseFilled(o: Record<string, unknown>, v: 1 | 2): CacheFilled | null {
  if (!(isKey(o.key) && isStr(o.issuer, 256) && typeof o.active === 'boolean' && isClaims(o.claims) && isNum(o.expiresAt) && isStr(o.origin, 128))) return null;
  if (v === 2 && !filledIss(o.active, o.claims)) return null;
  return { type: 'cache.filled', v, key: o.key, issuer: o.issuer, active: o.active, claims: o.claims, expiresAt: o.expiresAt, origin: o.origin };
}

function parseLeased(o: Record<string, unknown>, v: 1 | 2): IntrospectionLeased | null {
  const { key, status, active, claims, expiresAt, waitMs } = o;
  if (!isKey(key) || (status !== 'granted' && status !== 'pending' && status !== 'cached')) return null;
  if (!(active === null || typeof active === 'boolean') || !isClaims(claims) || !isNumOrNull(expiresAt) || !isInt(waitMs)) return null;
  if (status === 'cached' && (active === null || expiresAt === null)) return null;
  if (v === 2 && (status !== 'cached' || !filledIss(active, claims))) return null;
  return { type: 'introspection.leased', v, key, status, active, claims, expiresAt, waitMs };
}

/** Specs appended after the core ones in messages.ts (order is part of the wire format). */
export const CACHE_SPECS: ReadonlyArray<MessageSpec<CacheMessage>> = [
  { type: 'cache.filled', v: 1, fields: FILLED_FIELDS, parse: (o) => parseFilled(o, 1) },
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
    fields: LEASED_FIELDS,
    parse: (o) => parseLeased(o, 1),
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

/**
 * The v2 of `cache.filled` and `introspection.leased`: an `iss` the sharer filled in. Same fields as v1, so they
 * travel in v1's shared record (they take no structure of their own: the codec registers them apart from
 * MESSAGE_SPECS): a build before them reads their type and drops them as `unknown_version` — an unread fill
 * only costs it a lookup, an unread lease reply is an owner that did not answer (it asks again, then the server).
 */
export const CACHE_ISS_FILLED_SPECS: ReadonlyArray<MessageSpec<CacheMessage>> = [
  { type: 'cache.filled', v: 2, fields: FILLED_FIELDS, parse: (o) => parseFilled(o, 2) },
  { type: 'introspection.leased', v: 2, fields: LEASED_FIELDS, parse: (o) => parseLeased(o, 2) },
];
