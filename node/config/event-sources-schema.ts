// Config of the endpoints where identity providers push events (node/events): OpenID Connect
// Back-Channel Logout 1.0 per issuer. Off unless configured; every field with its default and unit.
import { z } from 'zod';

/** An exact request path on the main listener: `/` then unreserved characters and `/`, no dot segments. */
const endpointPath = z.string().max(256)
  .regex(/^\/[A-Za-z0-9._~/-]*$/, 'an absolute path of letters, digits, . _ ~ - and /')
  .refine((p) => !p.split('/').some((s) => s === '.' || s === '..') && !p.includes('//'), 'no dot segments or empty segments');

/**
 * `issuers.<name>.backchannel_logout`: the OP POSTs `logout_token` here (form-encoded); a valid
 * one revokes the session (`sid`) or, with only `sub`, the user's tokens issued up to its `iat`.
 */
export const backchannelLogoutSchema = z.strictObject({
  /** Path on the main listener, answered before routing (shadows a route with the same path). */
  path: endpointPath,
  /** The `aud` the logout token must name: the client id the OP knows this relying party by. */
  client_id: z.string().min(1),
  /** Oldest `iat` accepted, s before now (plus the issuer's clock_skew_s); older logout tokens → 400. */
  max_age_s: z.number().int().min(1).max(3600).default(120),
});

export type BackchannelLogoutConfig = z.infer<typeof backchannelLogoutSchema>;
