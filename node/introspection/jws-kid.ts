// The `kid` of a JWT that introspection judged: read from the token's protected header so a
// `kid` revocation (every token signed by that key) matches it as it matches a JWT verified here.
import type { VerifyOutcome } from '../pipeline/token-verifier.js';

/**
 * The header `kid` of a compact JWS (three dot-separated segments, a base64url JSON header
 * with a string `kid`), else undefined. Costs one indexOf for a token without a dot.
 */
export function jwsHeaderKid(token: string): string | undefined {
  const a = token.indexOf('.');
  if (a <= 0) return undefined;
  const b = token.indexOf('.', a + 1);
  if (b === -1 || token.indexOf('.', b + 1) !== -1) return undefined;
  try {
    const h: unknown = JSON.parse(Buffer.from(token.slice(0, a), 'base64url').toString('utf8'));
    const kid = typeof h === 'object' && h !== null ? (h as { kid?: unknown }).kid : undefined;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `outcome` with the JWS header's `kid` in its principal's facts when `token` is a JWT that
 * carries one and the facts do not; `outcome` itself otherwise (opaque tokens, refusals). The
 * header is part of what the authorization server verified, and a kid can only add refusals.
 */
export function withHeaderKid(token: string, outcome: VerifyOutcome): VerifyOutcome {
  if (!outcome.ok || outcome.principal.facts.kid !== undefined) return outcome;
  const kid = jwsHeaderKid(token);
  if (kid === undefined) return outcome;
  const p = outcome.principal;
  return Object.freeze({ ok: true as const, principal: Object.freeze({ ...p, facts: Object.freeze({ ...p.facts, kid }) }) });
}
