// Which issuers a route that names none (`auth.issuers` absent) accepts: every configured issuer
// except those standing for the proxy's own internal-token issuer, which a route accepts only by name.
import type { Config } from './schema.js';

/**
 * Names of the issuers whose `issuer` is `internal_tokens.issuer`: tokens the proxy minted for
 * one upstream's audience. Empty without internal_tokens.
 */
export function ownIssuerNames(cfg: Pick<Config, 'issuers' | 'internal_tokens'>): string[] {
  const own = cfg.internal_tokens?.issuer;
  if (own === undefined) return [];
  return Object.keys(cfg.issuers ?? {}).filter((name) => cfg.issuers[name]?.issuer === own);
}

/**
 * The issuers a route without `auth.issuers` accepts: null (every configured issuer) unless one of
 * them is the proxy's own; then every other one. A service holds the internal token minted for it:
 * were the proxy's issuer accepted by default, that token would open every such route (and every
 * decision endpoint verdict for it), whatever audience it was minted for.
 */
export function defaultRouteIssuers(cfg: Pick<Config, 'issuers' | 'internal_tokens'>): readonly string[] | null {
  const own = ownIssuerNames(cfg);
  if (own.length === 0) return null;
  return Object.freeze(Object.keys(cfg.issuers ?? {}).filter((name) => !own.includes(name)));
}

/** The issuers route `auth` accepts: its `issuers`, else defaultRouteIssuers (null: all). */
export function routeIssuers(cfg: Pick<Config, 'issuers' | 'internal_tokens'>, auth: { readonly issuers?: readonly string[] | undefined }): readonly string[] | null {
  return auth.issuers ?? defaultRouteIssuers(cfg);
}
