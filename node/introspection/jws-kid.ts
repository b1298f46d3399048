// The signing key of a JWT that introspection judged: its header `kid` goes into the token facts so
// a `kid` revocation (every token signed by that key) matches it as it matches a JWT verified here;
// a JWT whose header names no key is marked `keyUnknown` (any `kid` revocation of its issuer refuses it).
import type { VerifyOutcome } from '../pipeline/token-verifier.js';

/**
 * The protected header of a compact JWS (three dot-separated segments, a base64url JSON object
 * first) as its `kid` (undefined: none, or not a string); null when `token` is no JWS. Costs one
 * indexOf for a token without a dot.
 */
export function jwsHeaderKey(token: string): { readonly kid: string | undefined } | null {
  const a = token.indexOf('.');
  if (a <= 0) return null;
  const b = token.indexOf('.', a + 1);
  if (b === -1 || token.indexOf('.', b + 1) !== -1) return null;
  const text = Buffer.from(token.slice(0, a), 'base64url').toString('utf8');
  if (!text.trimStart().startsWith('{')) return null; // a dotted opaque token: no exception per cache hit
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return null;
  const kid = (h as { kid?: unknown }).kid;
  return { kid: typeof kid === 'string' ? kid : undefined };
}

/** The header `kid` of a JWS, else undefined (see jwsHeaderKey). */
export function jwsHeaderKid(token: string): string | undefined {
  return jwsHeaderKey(token)?.kid;
}

/**
 * `outcome` with the JWS header's `kid` in its principal's facts (or `keyUnknown` when the header
 * names none) when `token` is a JWT and the facts say nothing of its key; `outcome` itself
 * otherwise (opaque tokens, refusals, facts already kid-bearing). The header is part of what the
 * authorization server verified, and either mark can only add refusals.
 */
export function withHeaderKid(token: string, outcome: VerifyOutcome): VerifyOutcome {
  if (!outcome.ok || outcome.principal.facts.kid !== undefined) return outcome;
  const header = jwsHeaderKey(token);
  if (header === null) return outcome;
  const p = outcome.principal;
  const facts = Object.freeze(header.kid !== undefined ? { ...p.facts, kid: header.kid } : { ...p.facts, keyUnknown: true as const });
  return Object.freeze({ ok: true as const, principal: Object.freeze({ ...p, facts }) });
}
