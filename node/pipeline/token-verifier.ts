// The contract between authenticate and whatever judges a token (the JWT verifier,
// an introspection client): a plain outcome, synchronous when the answer is cached.
import type { ProxyError } from '../errors.js';
import type { Principal } from './context.js';

export interface VerifyOk { readonly ok: true; readonly principal: Principal }
/** `reason` is a stable code for logs and metrics; `error` is what the client is told. */
export interface VerifyFail { readonly ok: false; readonly error: ProxyError; readonly reason: string }
export type VerifyOutcome = VerifyOk | VerifyFail;

/** node/jwt's JwtVerifier satisfies this structurally; tests pass fakes. */
export interface TokenVerifier {
  /**
   * Judge `token`. `allowedIssuers` are config names (null = any configured issuer). `keyWaitMs`:
   * the longest this request waits for its issuer's keys to be refetched (an unknown kid), ms; then
   * a 503 outcome. `who` and `clientOf`: the request and how to read its client's address (read only when
   * the token waits for a verifier thread: its lane of the pool's fair queue); absent = one anonymous client.
   * Returns synchronously on a cache hit; the Promise never rejects.
   */
  verify<W>(token: string, allowedIssuers: readonly string[] | null, keyWaitMs?: number, who?: W, clientOf?: (who: W) => string): VerifyOutcome | Promise<VerifyOutcome>;
  /**
   * Config name of the issuer a JWS token claims (by `iss`, among `allowedIssuers`) when that
   * issuer has no signing keys yet; null otherwise. Lets authenticate introspect such a token
   * at its issuer instead of answering 503 (the authorization server is authoritative).
   */
  keylessIssuer?(token: string, allowedIssuers: readonly string[] | null): string | null;
}
