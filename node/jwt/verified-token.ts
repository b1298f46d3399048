// One verified JWT as a single frozen object that is at once the outcome the pipeline gets
// (VerifyOk), the principal policy reads and the token's revocation facts: a cache entry is one
// object instead of three (outcome, principal, facts), so each scavenge copies less per entry.
import { clientOf, factIat, factString, parentFacts, PARENT_CLAIM, type TokenFacts } from '../contracts/index.js';
import type { Principal } from '../pipeline/context.js';
import type { VerifyOk } from './verify-outcome.js';

/**
 * A successful JWT verification, as cached. `principal` and `facts` are the object itself, and
 * `ok`/`kind` live on the prototype, so the instance holds only what differs per token. Frozen
 * at construction: policy, identity headers, minting and revocation read it, nothing writes it.
 * The facts fields follow tokenFacts() exactly (same claims, same fallbacks).
 */
export class VerifiedToken implements VerifyOk, Principal, TokenFacts {
  declare readonly ok: true;
  declare readonly kind: 'jwt';
  /** Ref (id and material, KeyEntry.ref) of the key that verified it: the entry dies when the key leaves the JWKS or its kid gets new material. */
  readonly keyId: string;
  readonly issuer: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly scopes: readonly string[];
  readonly exp: number;
  readonly validUntil: number;
  readonly fingerprint: string;
  readonly tokenHash: string;
  readonly twinHash: string | undefined;
  readonly jti: string | undefined;
  readonly sub: string | undefined;
  readonly clientId: string | undefined;
  readonly iat: number | undefined;
  readonly kid: string | undefined;
  readonly iss: string | undefined;
  readonly sid: string | undefined;
  /** The inbound token a token the proxy minted replaced (token-facts.ts); undefined for any other token. */
  readonly parent: TokenFacts | undefined;

  /**
   * `claims` must already be frozen; `tokenHash` is SHA-256 hex of the token; `validUntil` is
   * exp + the issuer's clock skew (seconds); `issUrl` is the configured issuer URL (facts.iss fallback);
   * `twinHash` the SHA-256 hex of the token's ECDSA twin spelling (signature-twin.ts), null for other algs.
   */
  constructor(issuer: string, claims: Readonly<Record<string, unknown>>, scopes: readonly string[], validUntil: number,
    tokenHash: string, kid: string | undefined, issUrl: string, keyId: string, twinHash: string | null) {
    this.keyId = keyId;
    this.issuer = issuer;
    this.claims = claims;
    this.scopes = scopes;
    this.exp = claims.exp as number;
    this.validUntil = validUntil;
    this.fingerprint = tokenHash.slice(0, 16);
    this.tokenHash = tokenHash;
    this.twinHash = twinHash ?? undefined;
    this.jti = factString(claims.jti);
    this.sub = factString(claims.sub);
    this.clientId = clientOf(claims);
    this.iat = factIat(claims.iat);
    this.kid = kid;
    this.iss = factString(claims.iss) ?? issUrl;
    this.sid = factString(claims.sid);
    // token-rules refused a malformed claim before this is built
    this.parent = parentFacts(claims[PARENT_CLAIM]) ?? undefined;
    Object.freeze(this);
  }

  /** The outcome's principal: this object. */
  get principal(): Principal { return this; }

  /** The principal's revocation facts: this object. */
  get facts(): TokenFacts { return this; }
}

// constants of every instance (read-only, not enumerable); the prototype is frozen like the instances
Object.defineProperties(VerifiedToken.prototype, { ok: { value: true }, kind: { value: 'jwt' } });
Object.freeze(VerifiedToken.prototype);
