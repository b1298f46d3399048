// Which issuers a route that names none (`auth.issuers` absent) accepts: every configured issuer
// except those standing for the proxy's own internal-token issuer, which a route accepts only by name;
// and the warning for such a route when another route keeps an issuer to itself.
import type { Config } from './schema.js';
import type { ConfigProblem } from './problem.js';
import { quotedName } from './shown-value.js';

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

/**
 * Warnings for routes that name no issuers while another route names only some: that route's `auth.issuers`
 * says the issuers are not interchangeable (a staging or partner issuer added for `/test/*`, or `/admin/*` for
 * the corporate one alone), yet a route without `auth.issuers` takes every one of them. One warning per such
 * route, naming the first scoping route; silenced by listing the route's issuers (all of them, if intended).
 */
export function unscopedRouteIssuers(cfg: Pick<Config, 'issuers' | 'internal_tokens' | 'routes'>): ConfigProblem[] {
  const byDefault = defaultRouteIssuers(cfg) ?? Object.keys(cfg.issuers ?? {});
  if (byDefault.length < 2) return [];
  let scoping: { name: string; issuers: string[] } | undefined;
  for (const r of cfg.routes) {
    const named = typeof r.auth === 'object' ? r.auth.issuers : undefined;
    if (named === undefined) continue;
    const some = byDefault.filter((n) => named.includes(n));
    // a route for the proxy's own tokens alone scopes none of the others
    if (some.length > 0 && some.length < byDefault.length) { scoping = { name: r.name, issuers: some }; break; }
  }
  if (scoping === undefined) return [];
  const by = scoping.name, only = scoping.issuers.map(quotedName).join(', ');
  const out: ConfigProblem[] = [];
  cfg.routes.forEach((r, i) => {
    if (typeof r.auth !== 'object' || r.auth.issuers !== undefined) return;
    out.push({
      path: `routes[${i}].auth.issuers`,
      message: `route ${quotedName(r.name)} names no issuers, so it accepts tokens of every configured issuer (${byDefault.map(quotedName).join(', ')}), while route ${quotedName(by)} accepts only ${only}: a token of an issuer meant for some routes opens this one too. List the issuers this route trusts in auth.issuers (all of them, if intended)`,
    });
  });
  return out;
}
