// Bus subject names and the JetStream stream name, all derived from the configured
// prefix (`cluster.subject_prefix`, default `portcullis`). One place, so no module
// spells a subject by hand.

/**
 * The revocation kinds; each is also the last token of its subject. `sid` (an OpenID Connect session) travels as
 * `revocation.added` v2 only; `sub_without_sid` (a sub cut that matches only tokens carrying no `sid`: the companion
 * of a session logout that names the user) as v3 only. Append only: the receiver thread indexes subjects by position.
 */
export const REVOCATION_KINDS = ['jti', 'token', 'sub', 'client_id', 'kid', 'sid', 'sub_without_sid'] as const;
/** `jti` | `token` | `sub` | `client_id` | `kid` | `sid` | `sub_without_sid`. */
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

/** Every subject a Portcullis member uses, for one prefix. */
export interface Subjects {
  readonly prefix: string;
  /** `<p>.revocations.<kind>`: persisted in the revocation stream. */
  revocation(kind: RevocationKind): string;
  /** `<p>.revocations.>`: the stream's subject filter and the live subscription. */
  readonly revocationsAll: string;
  /** `<p>.cache.introspection`: introspection fills and evictions (keys are SHA-256 of the token). */
  readonly cacheIntrospection: string;
  /** `<p>.members`: heartbeats and departures. */
  readonly members: string;
  /** `<p>.rpc.introspection.<memberId>`: request/reply to the owner of a token key (single-flight). */
  introspectionOwner(memberId: string): string;
  /** `<p>.rpc.dpop.<memberId>`: request/reply to the owner of a DPoP proof key (replay check). */
  dpopOwner(memberId: string): string;
  /** `<p>.dpop.seen`: a DPoP proof key the owner recorded (every member records it too). */
  readonly dpopSeen: string;
  /** JetStream stream holding revocations: `<P>_REVOCATIONS` (prefix upper-cased, dots → `_`). */
  readonly revocationStream: string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Can `id` be the last token of a member's request subject (`[A-Za-z0-9_-]+`, as every member id is made)? */
export function isMemberIdToken(id: string): boolean {
  return TOKEN.test(id);
}

/** Build the subject set for `prefix`. Throws on a prefix that is not dot-separated `[A-Za-z0-9_-]+` tokens (the config schema already enforces this). */
export function subjects(prefix = 'portcullis'): Subjects {
  if (!prefix.split('.').every((t) => TOKEN.test(t))) throw new Error(`invalid subject prefix "${prefix}"`);
  const p = prefix;
  return Object.freeze({
    prefix: p,
    revocation: (kind: RevocationKind) => `${p}.revocations.${kind}`,
    revocationsAll: `${p}.revocations.>`,
    cacheIntrospection: `${p}.cache.introspection`,
    members: `${p}.members`,
    introspectionOwner: (memberId: string) => {
      if (!TOKEN.test(memberId)) throw new Error(`member id "${memberId}" is not a valid subject token`);
      return `${p}.rpc.introspection.${memberId}`;
    },
    dpopOwner: (memberId: string) => {
      if (!TOKEN.test(memberId)) throw new Error(`member id "${memberId}" is not a valid subject token`);
      return `${p}.rpc.dpop.${memberId}`;
    },
    dpopSeen: `${p}.dpop.seen`,
    revocationStream: `${p.replace(/\./g, '_').toUpperCase()}_REVOCATIONS`,
  });
}
