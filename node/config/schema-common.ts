// Building blocks shared by schema.ts and the section schemas split out of it (dpop-schema.ts,
// route-schema.ts …), among them the client-credentials block upstreams and routes both carry;
// their own module so a section file never imports schema.ts back (a cycle would meet these
// constants before they exist).
import { z } from 'zod';

export const port = z.number().int().min(0).max(65535);
export const ms = (def: number) => z.number().int().min(0).default(def);
/**
 * A timeout, ms: at least 1. 0 is not "no timeout" — the upstream client, the JWKS fetch and the
 * token endpoint calls would time out at once (every call failing, or racing the first tick).
 */
/** Longest period a seconds field that becomes a Node.js timer may hold: 2147483 s (~24.8 days); past it the timer fires after 1 ms. */
export const MAX_TIMER_S = 2_147_483;
/** A seconds field that becomes a timer (at least `min`), bounded by MAX_TIMER_S. */
export const timerS = (min: number) => z.number().int().min(min).max(MAX_TIMER_S, `at most ${MAX_TIMER_S} s (~24.8 days, the longest timer Node.js can set: past it the timer fires after 1 ms)`);
export const timeoutMs = (def: number) => z.number().int().min(1, 'at least 1 ms (0 is not "no timeout": every call would time out at once)').default(def);
/** Name of an environment variable holding a secret; secrets are never inline. */
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
/** JWS algorithms accepted anywhere (asymmetric only: never none or HS*). */
export const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'] as const;

/** One RFC 6749 §3.3 scope-token (%x21 / %x23-5B / %x5D-7E): no space, quote, backslash, control or non-ASCII. */
export const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token (RFC 6749 §3.3: visible ASCII but " and \\, no space)');

/** An http:// or https:// URL (discovery, JWKS, token endpoints). */
export const httpUrl = z.string().refine((u) => {
  try { return /^https?:$/.test(new URL(u).protocol) && /^https?:\/\//i.test(u); } catch { return false; }
}, 'an http:// or https:// URL');

/**
 * The OAuth client an upstream (egress) or route uses to get client-credentials tokens (node/s2s).
 * `issuer` names an entry of `issuers:` or is an issuer URL; its token endpoint comes from discovery
 * unless `token_endpoint` is set.
 */
export const clientCredentialsSchema = z.strictObject({
  issuer: z.string().min(1),
  token_endpoint: httpUrl.optional(), // default: discovery of the issuer
  client_id: z.string().min(1),
  client_secret_env: envName,
  auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
  scopes: z.array(scopeToken).default([]),
  audience: z.string().min(1).optional(), // default: the upstream's audience (its name)
  refresh_before_s: z.number().int().min(0).default(60), // fetch a new token this long before exp, s
  timeout_ms: timeoutMs(3_000), // 3 s per token endpoint call → 503
});
