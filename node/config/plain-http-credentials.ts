// Where the config sends credentials the proxy owns over plain http beyond loopback (client secrets
// to token/introspection endpoints or discovery, obtained tokens to upstream targets): warnings, not
// errors (a mesh may encrypt the hop); check-config prints them, serve and reload log them.
import type { Config } from './schema.js';

/** One place a credential would travel in clear text: the config path and what goes there. */
export interface PlainHttpCredential { readonly path: string; readonly message: string }

/** True for an http:// URL whose host is not loopback (127.0.0.0/8, ::1, localhost); false for https, loopback or junk. */
export function plainHttpBeyondLoopback(url: string): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol !== 'http:') return false;
  const h = u.hostname.toLowerCase();
  return !(h === 'localhost' || h.endsWith('.localhost') || h === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(h));
}

/** The host a URL names (never its path, query or userinfo). */
function hostOf(url: string): string {
  try { return new URL(url).host; } catch { return '(unparsable)'; }
}

/** Where a client secret goes: the configured endpoint, else the discovery base (the issuer or `discovery`). */
function endpointOrDiscovery(endpoint: string | undefined, issuer: string, discovery: boolean | string): { url: string; via: string } {
  if (endpoint !== undefined) return { url: endpoint, via: 'endpoint' };
  return { url: typeof discovery === 'string' ? discovery : issuer, via: 'discovery' };
}

function secretWarning(path: string, what: string, at: { url: string; via: string }): PlainHttpCredential {
  const message = at.via === 'discovery'
    ? `the ${what} endpoint is discovered over plain http at ${hostOf(at.url)}: anyone on the path can rewrite the document and take the client secret; use https`
    : `the ${what} client secret goes over plain http to ${hostOf(at.url)}: anyone on the path reads it; use https`;
  return { path, message };
}

/** Every place `cfg` sends a client secret or an obtained token over plain http beyond loopback (empty when none). */
export function plainHttpCredentials(cfg: Config): PlainHttpCredential[] {
  const out: PlainHttpCredential[] = [];
  for (const [name, iss] of Object.entries(cfg.issuers)) {
    for (const [key, field, block] of [['introspection', 'endpoint', iss.introspection?.endpoint], ['token_exchange', 'token_endpoint', iss.token_exchange?.token_endpoint]] as const) {
      if ((key === 'introspection' ? iss.introspection : iss.token_exchange) === undefined) continue;
      const at = endpointOrDiscovery(block, iss.issuer, iss.discovery);
      const path = at.via === 'endpoint' ? `issuers.${name}.${key}.${field}` : typeof iss.discovery === 'string' ? `issuers.${name}.discovery` : `issuers.${name}.issuer`;
      if (plainHttpBeyondLoopback(at.url)) out.push(secretWarning(path, key.replace('_', ' '), at));
    }
  }
  const ccPlaces: Array<[string, NonNullable<Config['upstreams'][string]['client_credentials']>]> = [];
  for (const [name, up] of Object.entries(cfg.upstreams)) if (up.client_credentials !== undefined) ccPlaces.push([`upstreams.${name}.client_credentials`, up.client_credentials]);
  cfg.routes.forEach((r, i) => { if (r.client_credentials !== undefined) ccPlaces.push([`routes[${i}].client_credentials`, r.client_credentials]); });
  for (const [where, cc] of ccPlaces) {
    const named = Object.hasOwn(cfg.issuers, cc.issuer) ? cfg.issuers[cc.issuer] : undefined;
    const at = endpointOrDiscovery(cc.token_endpoint, named?.issuer ?? cc.issuer, named?.discovery ?? true);
    const path = at.via === 'endpoint' ? `${where}.token_endpoint` : `${where}.issuer`;
    if (plainHttpBeyondLoopback(at.url)) out.push(secretWarning(path, 'client-credentials', at));
  }
  for (const [name, src] of Object.entries(cfg.event_sources ?? {})) {
    if (src.poll !== undefined && plainHttpBeyondLoopback(src.poll.endpoint)) out.push({ path: `event_sources.${name}.poll.endpoint`, message: `the poll Authorization goes over plain http to ${hostOf(src.poll.endpoint)}: anyone on the path reads it; use https` });
    if (src.stream !== undefined && plainHttpBeyondLoopback(src.issuer)) out.push({ path: `event_sources.${name}.issuer`, message: `the stream-management Authorization goes to endpoints read over plain http at ${hostOf(src.issuer)}: anyone on the path can rewrite them and take it; use https` });
  }
  cfg.routes.forEach((r, i) => {
    const up = cfg.upstreams[r.upstream];
    if (up === undefined) return;
    const kind = (r.client_credentials ?? up.client_credentials) !== undefined ? 'client-credentials' : r.forward.token === 'exchange' ? 'exchanged' : null;
    if (kind === null) return;
    const plain = up.targets.filter(plainHttpBeyondLoopback);
    if (plain.length > 0) out.push({ path: `upstreams.${r.upstream}.targets`, message: `routes[${i}] attaches a ${kind} token sent over plain http to ${plain.map(hostOf).join(', ')}: anyone on the path can replay it; use https` });
  });
  return out;
}
