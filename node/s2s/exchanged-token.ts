// What the proxy reads in a token an authorization server gave it (exchange, client credentials)
// before forwarding it: a JWT's `aud` must include the audience asked for (exchange), its `exp` must
// lie ahead and bounds its reuse; and the token's own revocation keys (so a revocation evicts it): a
// JWT whose identity claims no revocation could be sure to reach (two clients, a padded sub…) is refused.
import { createHash } from 'node:crypto';
import { identityClaimsMalformed, tokenFacts, type TokenFacts } from '../contracts/index.js';

/**
 * Verdict on an issued token (pure): opaque (nothing to read), a usable JWT with its `exp` (epoch s, or
 * null), or a problem; `facts`: its revocation keys (its SHA-256 alone when opaque).
 */
export type ExchangedVerdict =
  | { readonly kind: 'opaque'; readonly facts: TokenFacts }
  | { readonly kind: 'jwt'; readonly exp: number | null; readonly facts: TokenFacts }
  | { readonly kind: 'unusable'; readonly reason: 'exchange_audience_mismatch' | 'exchange_token_expired' | 'exchange_token_malformed'; readonly detail: string };

function jsonObject(segment: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/**
 * Judge `token` for `audience` at `nowS` (epoch s); `audience` null: `aud` is not checked. The signature is not checked (the upstream does;
 * the proxy is not its audience): the claims are read only to refuse what the upstream must not get.
 * A JWS whose header is a JSON object with `alg` is a JWT; anything else (opaque, JWE) is `opaque`.
 * Details never quote the token or its claims.
 */
export function judgeExchanged(token: string, audience: string | null, nowS: number): ExchangedVerdict {
  const parts = token.split('.');
  const tokenHash = createHash('sha256').update(token).digest('hex');
  const opaque = (): ExchangedVerdict => ({ kind: 'opaque', facts: { tokenHash } });
  if (parts.length !== 3) return opaque();
  const header = jsonObject(parts[0]!);
  if (header === null || typeof header.alg !== 'string') return opaque();
  const claims = jsonObject(parts[1]!);
  if (claims === null) return { kind: 'unusable', reason: 'exchange_token_malformed', detail: 'the issued JWT\'s claims are not a JSON object' };
  const aud = audience === null ? [] : claims.aud;
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === 'string') ? aud as string[] : null;
  if (auds === null) return { kind: 'unusable', reason: 'exchange_audience_mismatch', detail: aud === undefined ? 'the issued JWT has no aud' : 'the issued JWT\'s aud is not a string or a list of strings' };
  if (audience !== null && !auds.includes(audience)) return { kind: 'unusable', reason: 'exchange_audience_mismatch', detail: `the issued JWT's aud (${auds.length} value(s)) does not include the audience asked for` };
  // the cache keeps it under one client (clientOf): `revoke --client` of the other name would answer 201 and
  // leave it attached; refused as the inbound path refuses such a token (token-facts.ts identityClaimsMalformed)
  if (identityClaimsMalformed(claims)) {
    return { kind: 'unusable', reason: 'exchange_token_malformed', detail: 'the issued JWT\'s client claims name two different clients, or its sub, jti, client or sid is not a plain string: a revocation could miss it' };
  }
  const exp = claims.exp;
  const facts = tokenFacts(tokenHash, claims, typeof header.kid === 'string' ? header.kid : undefined, '');
  if (exp === undefined) return { kind: 'jwt', exp: null, facts };
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { kind: 'unusable', reason: 'exchange_token_malformed', detail: 'the issued JWT\'s exp is not a number' };
  if (exp <= nowS) return { kind: 'unusable', reason: 'exchange_token_expired', detail: 'the issued JWT has expired' };
  return { kind: 'jwt', exp, facts };
}
