// `forward.token: internal`: replaces the inbound token with a short-lived RFC 9068 JWT
// the proxy signs (iss = internal_tokens.issuer, aud = the upstream's audience, exp ≤
// min(inbound exp, now + max_ttl_s, now + cache_ttl_s for an introspected one)), cached per (inbound token, audience).
import { createHash, randomUUID } from 'node:crypto';
import type { Config, InternalTokensConfig } from '../config/index.js';
import { clientOf, MAX_PARENT_DEPTH, parentClaim, PARENT_CLAIM, type TokenFacts } from '../contracts/index.js';
import { proxyError } from '../errors.js';
import type { Principal } from '../pipeline/context.js';
import { TokenBoundCache, type Deny, type Grant, type OutboundResult, type RevocationLike } from './grant-cache.js';
import { signingInput } from './jws-sign.js';
import type { KeyRing } from './key-ring.js';
import type { TokenSigner } from './token-signer.js';
import { REFUSAL_COOLDOWN_MS } from './upstream-refusal.js';

const SIGN_FAILED: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'internal_token_failed',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'could not sign the internal token', { retryAfter: 1 })),
});
const KEY_REVOKED: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'internal_key_revoked',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'the internal token signing key was revoked and not yet replaced', { retryAfter: 1 })),
});
const MINTED_REVOKED: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'internal_token_revoked',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'a revocation covers internal tokens issued this second', { retryAfter: 1 })),
});
/**
 * The inbound token is already MAX_PARENT_DEPTH derivations from the user's: a token minted from it
 * would carry one level more than any proxy takes back (parentFacts refuses it as malformed), so the
 * chain ends here, before the service behind this route is handed it. Before, it was minted and sent.
 */
const CHAIN_TOO_DEEP: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'internal_token_chain_too_deep',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_FORBIDDEN', `the internal-token chain is too long: this token was derived ${MAX_PARENT_DEPTH} times, the most a token may carry`)),
});
export const REVOKED_MEANWHILE: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'revoked',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'the token has been revoked')),
});

/** Reuse a minted token until this close to its exp: min(30 s, a quarter of its lifetime). */
export function reuseMarginS(lifetimeS: number): number {
  return Math.min(30, Math.floor(lifetimeS / 4));
}

/**
 * Per issuer name with introspection, its `cache_ttl_s` (s, when > 0): how long the proxy vouches for
 * an introspected token without asking again, so how long a token minted from one may live. Before,
 * one lived to max_ttl_s past a deactivation at the authorization server that the proxy itself
 * noticed after cache_ttl_s.
 */
export function introspectionRecheckS(config: Pick<Config, 'issuers'>): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  for (const [name, iss] of Object.entries(config.issuers)) {
    const ttl = iss.introspection?.cache_ttl_s;
    if (ttl !== undefined && ttl > 0) out.set(name, ttl);
  }
  return out;
}

/** The payload of the internal token for `p` (pure; times in epoch seconds); `recheckS` caps its lifetime too (introspectionRecheckS). */
export function internalClaims(p: Principal, audience: string, cfg: Pick<InternalTokensConfig, 'issuer' | 'max_ttl_s' | 'claims'>, nowS: number, jti: string, recheckS?: number): Record<string, unknown> {
  const c = p.claims;
  const sub = typeof c.sub === 'string' ? c.sub : undefined;
  const clientId = clientOf(c); // client_id, else azp, else cid (Okta), else appid (Entra ID v1): the client a revocation names
  const scope = typeof c.scope === 'string' ? c.scope : p.scopes.length > 0 ? p.scopes.join(' ') : undefined;
  const out: Record<string, unknown> = {
    iss: cfg.issuer,
    // RFC 9068 requires sub: a client's own token (no sub) is about the client
    sub: sub ?? clientId,
    aud: audience,
    exp: Math.min(p.exp, nowS + cfg.max_ttl_s, recheckS === undefined ? Infinity : nowS + recheckS),
    iat: nowS,
    jti,
  };
  if (clientId !== undefined) out.client_id = clientId;
  if (scope !== undefined) out.scope = scope;
  // own claims only: an inherited `toString` or `constructor` is no claim of the token
  for (const name of cfg.claims) if (Object.hasOwn(c, name) && c[name] !== undefined) out[name] = c[name];
  if (out.sub === undefined) delete out.sub;
  // the inbound token's revocation keys: presented back to a proxy, this token dies with it (never copied from the inbound's claims)
  out[PARENT_CLAIM] = parentClaim(p.facts);
  return out;
}

export class InternalMinter {
  #cfg: InternalTokensConfig;
  readonly #ring: KeyRing;
  #signer: TokenSigner;
  readonly #cache: TokenBoundCache;
  #minted = 0;
  #failed = 0;
  #refusals = 0;
  #tooDeep = 0;
  #refusalLoggedAt = Number.NEGATIVE_INFINITY;
  #recheck: ReadonlyMap<string, number> = new Map();

  /** The per-request revocation check, when the instance has revocations: a token it would refuse is never handed out. */
  readonly #isRevoked: ((f: TokenFacts) => boolean) | null;

  constructor(cfg: InternalTokensConfig, ring: KeyRing, signer: TokenSigner, isRevoked: ((f: TokenFacts) => boolean) | null = null) {
    this.#isRevoked = isRevoked;
    this.#cfg = cfg;
    this.#ring = ring;
    this.#signer = signer;
    this.#cache = new TokenBoundCache(cfg.cache_entries, REVOKED_MEANWHILE);
  }

  /**
   * Settings for tokens minted from now on (a reload). Cached tokens are dropped when what they
   * carry changed (issuer, claims, a shorter max_ttl_s): before, a removed claim or the old `iss`
   * reached the upstream until the cached token's exp. Otherwise they stay in use.
   */
  configure(cfg: InternalTokensConfig): void {
    const old = this.#cfg;
    if (cfg.issuer !== old.issuer || cfg.max_ttl_s < old.max_ttl_s || cfg.claims.join('\n') !== old.claims.join('\n')) this.#cache.clear();
    this.#cfg = cfg;
  }

  /**
   * Lifetime caps of tokens minted from introspected tokens, by issuer name, from now on
   * (introspectionRecheckS). A cap that is new or shorter drops the cached tokens, as a shorter
   * max_ttl_s does: before, the ones minted under the longer cap went on being handed out.
   */
  setRecheck(recheck: ReadonlyMap<string, number>): void {
    for (const [name, s] of recheck) {
      const old = this.#recheck.get(name);
      if (old === undefined || s < old) { this.#cache.clear(); break; }
    }
    this.#recheck = recheck;
  }

  /** Sign with `signer` from now on (a reload switched signing mode). */
  setSigner(signer: TokenSigner): void {
    this.#signer = signer;
  }

  /** `Bearer <internal token>` for principal `p` and `audience`: cached (sync) or being minted (Promise). */
  authorization(p: Principal, audience: string): OutboundResult | Promise<OutboundResult> {
    // derivation levels of the token to mint: the inbound token's own plus one (a user's token: 1)
    let levels = 0;
    for (let f: TokenFacts | undefined = p.facts; f !== undefined; f = f.parent) levels++;
    if (levels > MAX_PARENT_DEPTH) { this.#tooDeep++; return CHAIN_TOO_DEEP; }
    return this.#cache.get(p.facts.tokenHash, audience, p, this.#load);
  }

  /**
   * An upstream answered 401 invalid_token to a minted token: counted, never dropped. The proxy is
   * this token's issuer: a new one carries the same key and claims (refused alike), and a new `jti`
   * would get round an upstream that refused this one by its `jti`. True when it is worth a log
   * line (the first one per REFUSAL_COOLDOWN_MS).
   */
  refused(): boolean {
    this.#refusals++;
    const now = performance.now();
    if (now - this.#refusalLoggedAt < REFUSAL_COOLDOWN_MS) return false;
    this.#refusalLoggedAt = now;
    return true;
  }

  /** The inbound token was revoked: its minted tokens leave the cache. */
  revoke(tokenHash: string): boolean {
    return this.#cache.revoke(tokenHash);
  }

  /**
   * A revocation that names a minted token itself (namesToken: its jti or SHA-256 in O(1); a sub,
   * client_id, sid or kid of ours in a scan) leaves the cache; the next request mints a fresh one.
   * Returns how many went.
   */
  revokeOwn(r: RevocationLike, isRevoked: ((f: TokenFacts) => boolean) | null): number {
    return this.#cache.revokeOwn(r, isRevoked);
  }

  readonly #load = (p: Principal, audience: string): Promise<Grant> => this.#mint(p, audience);

  async #mint(p: Principal, audience: string): Promise<Grant> {
    const nowMs = Date.now();
    const nowS = Math.floor(nowMs / 1000);
    let key;
    try {
      key = this.#ring.signer(nowMs);
    } catch {
      this.#failed++;
      return { ok: false, deny: KEY_REVOKED };
    }
    const payload = internalClaims(p, audience, this.#cfg, nowS, randomUUID(), p.kind === 'opaque' ? this.#recheck.get(p.issuer) : undefined);
    const input = signingInput({ alg: key.alg, typ: 'at+jwt', kid: key.kid }, payload);
    let sig: string | null;
    try {
      sig = await this.#signer.sign(key, input);
    } catch {
      sig = null;
    }
    if (sig === null) { this.#failed++; return { ok: false, deny: SIGN_FAILED }; }
    // its key was revoked while it was being signed: never handed out
    if (this.#ring.isRevoked(key.kid)) { this.#failed++; return { ok: false, deny: KEY_REVOKED }; }
    this.#minted++;
    const exp = payload.exp as number;
    const token = `${input}.${sig}`;
    // its own revocation keys: an operator revoking it (seen in an upstream's log) evicts it (revokeOwn)
    const facts: TokenFacts = {
      tokenHash: createHash('sha256').update(token).digest('hex'), jti: payload.jti as string, sub: payload.sub as string | undefined,
      clientId: payload.client_id as string | undefined, iat: nowS, kid: key.kid, iss: this.#cfg.issuer,
      sid: typeof payload.sid === 'string' ? payload.sid : undefined, parent: p.facts,
    };
    // a sub/client_id cut covers its whole second: a token minted in that second is refused like the ones before it
    if (this.#isRevoked?.(facts) === true) { this.#failed++; return { ok: false, deny: MINTED_REVOKED }; }
    return { ok: true, authorization: `Bearer ${token}`, useUntil: (exp - reuseMarginS(exp - nowS)) * 1000, facts };
  }

  stats(): Record<string, number> {
    return { minted: this.#minted, mint_failures: this.#failed, upstream_refusals: this.#refusals, chain_too_deep: this.#tooDeep, ...this.#cache.stats() };
  }
}
