// A route's DPoP setting (RFC 9449), compiled once at config load into the route policy:
// whether the route takes only DPoP-bound tokens, the proof `iat` window and nonces.
import type { RouteAuthConfig } from '../config/index.js';

/** What one route asks of DPoP proofs. DPoP-bound tokens are checked on every route. */
export interface DpopPolicy {
  /** Only DPoP-bound tokens (cnf.jkt) with a valid proof; Bearer and unbound tokens get 401. */
  readonly required: boolean;
  /** The proof's `iat` may be at most this far from now, either way, seconds. */
  readonly iatWindowS: number;
  /** The proof must carry a current server nonce (RFC 9449 §9). */
  readonly nonce: boolean;
}

/** Schema defaults: for routes without `auth.dpop` (and `auth: none` never reaches DPoP). */
export const DEFAULT_DPOP_POLICY: DpopPolicy = Object.freeze({ required: false, iatWindowS: 60, nonce: false });

/** Compile `auth.dpop`; the schema has applied its defaults already. */
export function compileDpopPolicy(cfg: RouteAuthConfig['dpop'] | undefined): DpopPolicy {
  if (cfg === undefined) return DEFAULT_DPOP_POLICY;
  if (!cfg.required && cfg.iat_window_s === DEFAULT_DPOP_POLICY.iatWindowS && !cfg.nonce) return DEFAULT_DPOP_POLICY;
  return Object.freeze({ required: cfg.required, iatWindowS: cfg.iat_window_s, nonce: cfg.nonce });
}
