// What an introspection answer's claims mean to the judge (answer-judge.ts): NumericDate
// shape, access-token types, scopes, and the deep freeze that makes a shared answer immutable.

/** Absent, or a finite number (RFC 7519 NumericDate). */
export function optionalDate(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * `Bearer` or `DPoP` (RFC 6750, RFC 9449 §9), any case: the access-token types this proxy serves.
 * A DPoP token must carry the key it is bound to (`cnf.jkt`): without it the binding could not be
 * checked and the token would pass as a plain bearer token.
 */
export function isAccessTokenType(v: unknown, cnf: unknown): boolean {
  if (typeof v !== 'string') return false;
  const t = v.toLowerCase();
  if (t === 'bearer') return true;
  return t === 'dpop' && typeof cnf === 'object' && cnf !== null && typeof (cnf as Record<string, unknown>).jkt === 'string';
}

/** The scopes an answer grants: `scope` (space-separated), else `scp` (array or string). */
export function scopesOf(claims: Readonly<Record<string, unknown>>): readonly string[] {
  const split = (s: string): string[] => s.split(' ').filter((x) => x.length > 0);
  if (typeof claims.scope === 'string') return Object.freeze(split(claims.scope));
  const scp = claims.scp;
  if (Array.isArray(scp)) return Object.freeze(scp.filter((x): x is string => typeof x === 'string'));
  if (typeof scp === 'string') return Object.freeze(split(scp));
  return Object.freeze([]);
}

/** Freeze `v` and everything it holds (answers are shared by every request that hits them). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}
