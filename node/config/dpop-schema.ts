// The top-level `dpop:` section (RFC 9449 proof checks shared by every route), split out of schema.ts.
import { z } from 'zod';
import { ALGS, envName } from './schema-common.js';

/** DPoP proof checks shared by every route (the route's `auth.dpop` has the per-route part). */
export const dpopSchema = z.strictObject({
  /** Proof signature algorithms accepted (asymmetric only), also sent as `algs` in the DPoP challenge. */
  algorithms: z.array(z.enum(ALGS, { message: `one of ${ALGS.join(', ')} (never none or HS*)` })).min(1).default(['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256']),
  max_proof_bytes: z.number().int().min(512).max(16 * 1024).default(8 * 1024), // the DPoP header, bytes; larger → 401
  replay: z.strictObject({
    /** Proof jtis remembered per process; at the bound the oldest leaves and older proofs are refused. ~150 B each. */
    max_entries: z.number().int().min(1_000).default(250_000),
    /** Wait for the jti's owner member this long, ms; past it the local cache decides (counted). */
    owner_timeout_ms: z.number().int().min(1).default(200),
  }).default({}),
  nonce: z.strictObject({
    /** Env var with the nonce HMAC secret (≥ 32 bytes), the same on every instance; unset: random per process. */
    secret_env: envName.optional(),
    lifetime_s: z.number().int().min(1).max(3_600).default(300), // a nonce is accepted for 1–2 lifetimes, seconds
  }).default({}),
}).default({});
