// Warnings for a config that serves several issuers (tenants, realms, staging beside prod) where one
// issuer's subjects can be mistaken for another's: an SSF transmitter without `token_issuer` revokes every
// issuer's `sub`, and a route taking two issuers forwards `sub` without `iss` to an upstream that cannot tell them apart.
import type { Config } from './schema.js';
import type { ConfigProblem } from './problem.js';
import { ownIssuerNames, routeIssuers } from './route-issuers.js';
import { quotedName } from './shown-value.js';

/** Claims that name a user, client or session: the same value at two issuers is two principals. */
const PRINCIPAL_CLAIMS: ReadonlySet<string> = new Set(['sub', 'client_id', 'azp', 'cid', 'appid', 'sid', 'email', 'preferred_username']);

type Cfg = Pick<Config, 'issuers' | 'internal_tokens' | 'routes' | 'identity' | 'event_sources'>;

/** Of the issuer entries `names`, one per distinct `iss` (the first in config order): names, as messages may show them and not URLs. */
function issOf(cfg: Cfg, names: readonly string[]): string[] {
  const seen: string[] = [];
  const out: string[] = [];
  for (const n of names) {
    const iss = cfg.issuers?.[n]?.issuer;
    if (iss === undefined || seen.includes(iss)) continue;
    seen.push(iss);
    out.push(n);
  }
  return out;
}

/**
 * Event sources without `token_issuer` while the config has two or more token issuers (the proxy's own
 * left out): their email, opaque and session subjects revoke that `sub`/`sid` at every issuer, and an
 * `iss_sub` naming any issuer is taken as is — one tenant's transmitter can log out another tenant's users.
 */
export function unscopedEventSources(cfg: Cfg): ConfigProblem[] {
  const own = ownIssuerNames(cfg);
  const tokenIss = issOf(cfg, Object.keys(cfg.issuers ?? {}).filter((n) => !own.includes(n)));
  if (tokenIss.length < 2) return [];
  const out: ConfigProblem[] = [];
  for (const [name, src] of Object.entries(cfg.event_sources ?? {})) {
    if (src.token_issuer !== undefined) continue;
    out.push({
      path: `event_sources.${name}.token_issuer`,
      message: `event source ${quotedName(name)} sets no token_issuer, so its events revoke subjects of every configured issuer (${tokenIss.map(quotedName).join(', ')}): an email, opaque or session subject as that sub or sid at each of them, and an iss_sub naming any of them as it says — a transmitter speaking for one issuer can revoke another issuer's users. Set token_issuer to the iss of the access tokens this transmitter speaks for`,
    });
  }
  return out;
}

/**
 * Routes that accept tokens of two or more `iss` and forward a principal claim (`sub`, `client_id`…) but
 * not `iss`: `alice` of one issuer and `alice` of another reach the upstream as the same identity.
 */
export function issuerlessIdentity(cfg: Cfg): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const all = Object.keys(cfg.issuers ?? {});
  cfg.routes.forEach((r, i) => {
    if (typeof r.auth !== 'object') return;
    const iss = issOf(cfg, routeIssuers(cfg, r.auth) ?? all);
    if (iss.length < 2) return;
    const own = r.forward?.identity_headers;
    const mapping = own ?? cfg.identity.headers;
    const claims = Object.values(mapping);
    if (claims.includes('iss')) return;
    const named = Object.entries(mapping).filter(([, c]) => PRINCIPAL_CLAIMS.has(c));
    if (named.length === 0) return;
    const shown = named.map(([, c]) => quotedName(c)).join(', ');
    out.push({
      path: own !== undefined ? `routes[${i}].forward.identity_headers` : 'identity.headers',
      message: `route ${quotedName(r.name)} accepts tokens of ${iss.length} issuers (${iss.map(quotedName).join(', ')}) and forwards ${shown} in identity headers but not iss: the upstream cannot tell one issuer's "alice" from another's. Forward iss too (e.g. X-Auth-Issuer: iss), or keep the route to one issuer in auth.issuers`,
    });
  });
  return out;
}
