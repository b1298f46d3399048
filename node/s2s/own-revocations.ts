// Revocations that name an outbound token itself — a minted internal token, an exchanged or a
// client-credentials token, by its own jti, hash, kid or a cut of its issuer — evict it from the
// proxy's caches; a `kid` revocation of the proxy's own signing key takes that key out of the ring.
import type { InternalTokensConfig } from '../config/index.js';
import type { TokenFacts } from '../contracts/index.js';
import type { Logger } from '../log.js';
import type { ClientCredentialsSource } from './client-credentials.js';
import type { RevocationLike } from './grant-cache.js';
import type { InternalMinter } from './internal-minter.js';
import { generateKeySync, type KeyRing } from './key-ring.js';
import type { TokenExchanger } from './token-exchanger.js';

/** The part of the s2s layer's internal-token issuer these need. */
export interface OwnIssuer {
  readonly cfg: Pick<InternalTokensConfig, 'issuer' | 'key_file' | 'alg'>;
  readonly ring: KeyRing;
  readonly minter: InternalMinter;
}

export interface OutboundHolders {
  readonly issuing: OwnIssuer | null;
  readonly exchangers: Iterable<TokenExchanger>;
  readonly sources: Iterable<ClientCredentialsSource>;
}

/** Evict every cached outbound token `r` names itself; the next request obtains a new one. Before, each was attached until its exp. */
export function revokeOutbound(r: RevocationLike, holders: OutboundHolders, isRevoked: ((f: TokenFacts) => boolean) | null, log: Logger): void {
  if (holders.issuing !== null) revokeMinted(holders.issuing, r, isRevoked, log);
  let n = 0;
  for (const x of holders.exchangers) n += x.revokeOwn(r, isRevoked);
  for (const src of holders.sources) if (src.revokeOwn(r, isRevoked)) n++;
  if (n > 0) log.info({ kind: r.kind, evicted: n }, 'revocation matched exchanged or client-credentials tokens: evicted, the next request obtains new ones');
}

/**
 * Drop the cached minted tokens `r` names. A `kid` revocation of one of our own keys also takes it
 * out of the ring (no more signing, gone from the JWKS); with generated keys a new one signs at
 * once, with a key file minting answers 503 until a reload installs another key.
 */
function revokeMinted(issuing: OwnIssuer, r: RevocationLike, isRevoked: ((f: TokenFacts) => boolean) | null, log: Logger): void {
  const n = issuing.minter.revokeOwn(r, isRevoked);
  if (n > 0) log.info({ kind: r.kind, evicted: n }, 'revocation matched minted internal tokens: evicted, the next request mints new ones');
  if (r.kind !== 'kid' || (r.issuer != null && r.issuer !== issuing.cfg.issuer) || !issuing.ring.revoke(r.value)) return;
  if (issuing.ring.halted && issuing.cfg.key_file === undefined) {
    const entry = issuing.ring.install(generateKeySync(issuing.cfg.alg), issuing.cfg.alg);
    log.warn({ kid: r.value, next_kid: entry?.kid }, 'internal token signing key revoked: removed from the JWKS, a new generated key signs from now');
  } else if (issuing.ring.halted) {
    log.error({ kid: r.value, key_file: issuing.cfg.key_file }, 'internal token signing key revoked: removed from the JWKS; routes with forward.token: internal answer 503 until internal_tokens.key_file holds a new key and the config is reloaded');
  } else {
    log.warn({ kid: r.value }, 'internal token key revoked: removed from the JWKS and never signs');
  }
}

/**
 * A key revoked before this process held it (revocations replayed at start before the layer
 * listened, a reload back to a revoked key file): taken out as if its revocation arrived now.
 */
export function dropRevokedKeys(issuing: OwnIssuer, isRevoked: ((f: TokenFacts) => boolean) | null, log: Logger): void {
  if (isRevoked === null) return;
  for (const k of [...issuing.ring.published()]) {
    if (isRevoked({ tokenHash: '', kid: k.kid, iss: issuing.cfg.issuer })) revokeMinted(issuing, { kind: 'kid', value: k.kid, issuer: null }, isRevoked, log);
  }
}
