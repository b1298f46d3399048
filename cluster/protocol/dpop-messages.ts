// Messages of the cluster-wide DPoP proof replay check: a claim to the key's owner
// (request/reply on `<p>.rpc.dpop.<member>`) and the owner's announcement of a fresh
// claim (`<p>.dpop.seen`). Keys are SHA-256 (base64url) of the key thumbprint and the
// proof's jti: neither proofs nor tokens travel. Extend by appending specs.
import { isInt, isStr, type MessageSpec } from './message-spec.js';

/** `dpop.claim`: to the owner of `key`: record this proof unless you have seen it. */
export interface DpopClaim {
  readonly type: 'dpop.claim';
  readonly v: 1;
  readonly key: string;
  /** Epoch seconds after which the proof is refused by its iat anyway. */
  readonly expiresAt: number;
  readonly member: string;
}

/** `dpop.claimed`: the owner's verdict: `fresh` (recorded now), `replayed`, `too_old` (below its eviction floor). */
export interface DpopClaimed {
  readonly type: 'dpop.claimed';
  readonly v: 1;
  readonly key: string;
  readonly verdict: 'fresh' | 'replayed' | 'too_old';
}

/** `dpop.seen`: the owner recorded `key`; every member records it too (survives an owner change). */
export interface DpopSeen {
  readonly type: 'dpop.seen';
  readonly v: 1;
  readonly key: string;
  readonly expiresAt: number;
  readonly origin: string;
}

/** Every DPoP replay message. */
export type DpopMessage = DpopClaim | DpopClaimed | DpopSeen;

const KEY = /^[A-Za-z0-9_-]{43}$/;
const isKey = (x: unknown): x is string => typeof x === 'string' && KEY.test(x);
const VERDICTS: readonly string[] = ['fresh', 'replayed', 'too_old'];

/** Specs appended after the cache ones in messages.ts (order is part of the wire format). */
export const DPOP_SPECS: ReadonlyArray<MessageSpec<DpopMessage>> = [
  {
    type: 'dpop.claim', v: 1,
    fields: ['type', 'v', 'key', 'expiresAt', 'member'],
    parse: (o) => (isKey(o.key) && isInt(o.expiresAt) && isStr(o.member, 128)
      ? { type: 'dpop.claim', v: 1, key: o.key, expiresAt: o.expiresAt, member: o.member } : null),
  },
  {
    type: 'dpop.claimed', v: 1,
    fields: ['type', 'v', 'key', 'verdict'],
    parse: (o) => (isKey(o.key) && typeof o.verdict === 'string' && VERDICTS.includes(o.verdict)
      ? { type: 'dpop.claimed', v: 1, key: o.key, verdict: o.verdict as DpopClaimed['verdict'] } : null),
  },
  {
    type: 'dpop.seen', v: 1,
    fields: ['type', 'v', 'key', 'expiresAt', 'origin'],
    parse: (o) => (isKey(o.key) && isInt(o.expiresAt) && isStr(o.origin, 128)
      ? { type: 'dpop.seen', v: 1, key: o.key, expiresAt: o.expiresAt, origin: o.origin } : null),
  },
];
