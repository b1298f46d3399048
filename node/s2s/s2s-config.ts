// Cross-checks of the service-to-service settings (internal tokens, token exchange,
// client credentials) that the schema alone cannot express; called by config/load.ts
// so one run reports every problem with its path.
import type { ClientCredentialsConfig, Config } from '../config/schema.js';
import { proxyOwnedHeaderProblem } from '../config/proxy-owned-headers.js';
import { routeIssuers } from '../config/route-issuers.js';
import { IDENTITY_ASSERTION_HEADERS } from '../config/untrusted-headers.js';

interface Problem { readonly path: string; readonly message: string }

/** Claims a minted token sets itself; `internal_tokens.claims` may not name them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'scope', 'client_id', 'typ', 'portcullis_src']);

/**
 * Inbound claims a minted token must not carry, and why: each would tell the upstream something the
 * policy did not judge or the proxy cannot stand behind (before, `check-config` took them).
 */
const NOT_COPIED: ReadonlyMap<string, string> = new Map([
  ['scp', "the minted token's scope carries the scopes the policy judged, an inbound scp beside it could name others"],
  ['cnf', "it binds the inbound token to the client's key (DPoP, mTLS), which the proxy cannot prove to the upstream"],
]);

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** Why `name` cannot be a `forward.caller_authorization` header in `cfg`, or null when it can. */
function callerHeaderProblem(cfg: Config, name: string): string | null {
  // e.g. `Host`: the upstream got `Host: <the caller's Authorization text>` ahead of the real one; and the
  // name joins the client-header filter, so `Authorization` or `Cookie` left every route's requests
  const owned = proxyOwnedHeaderProblem(name);
  if (owned !== null) return `${owned} (name a header of its own, e.g. X-Forwarded-Authorization)`;
  const lower = name.toLowerCase();
  const mapped = [cfg.identity?.headers ?? {}, ...(cfg.routes ?? []).map((r) => r.forward?.identity_headers ?? {})];
  if (mapped.some((m) => Object.keys(m).some((k) => k.toLowerCase() === lower))) return `"${name}" is an identity header (identity.headers or a route's forward.identity_headers): the caller's Authorization would reach the upstream as the caller's identity`;
  // X-Forwarded-User, Remote-User…: mapped or not, apps behind other proxies read them as the verified user
  if (IDENTITY_ASSERTION_HEADERS.includes(lower)) return `"${name}" is a header other authenticating proxies assert the user in (oauth2-proxy, Authelia, forward-auth, IAP…): the caller's Authorization would reach the upstream as the caller's identity (name a header of its own, e.g. X-Forwarded-Authorization)`;
  return null;
}

/** The client-credentials block that applies to a route: its own, else its upstream's; null = none. */
export function routeClientCredentials(cfg: Config, routeIndex: number): ClientCredentialsConfig | null {
  const r = cfg.routes[routeIndex];
  if (r === undefined) return null;
  return r.client_credentials ?? cfg.upstreams[r.upstream]?.client_credentials ?? null;
}

function checkClientCredentials(cfg: Config, cc: ClientCredentialsConfig, path: string, out: Problem[]): void {
  if (typeof cc?.issuer !== 'string' || isUrl(cc.issuer)) return; // a wrong type is the schema's report
  // own keys only: `constructor`, `toString`… are on every object's prototype, not issuer names
  const iss = Object.hasOwn(cfg.issuers, cc.issuer) ? cfg.issuers[cc.issuer] : undefined;
  if (iss === undefined) {
    out.push({ path: `${path}.issuer`, message: `unknown issuer "${cc.issuer}" (a name under issuers: or an http(s) issuer URL; known: ${Object.keys(cfg.issuers).join(', ') || 'none'})` });
  } else if (iss.discovery === false && cc.token_endpoint === undefined) {
    out.push({ path: `${path}.token_endpoint`, message: `required: issuer "${cc.issuer}" has discovery: false` });
  }
}

/** Every s2s problem of an already schema-valid (or leniently shaped) config. */
export function checkS2sConfig(cfg: Config): Problem[] {
  const out: Problem[] = [];
  const it = cfg.internal_tokens;
  if (it !== undefined) {
    if (it.rotate_after_s !== undefined && it.key_file !== undefined) {
      out.push({ path: 'internal_tokens.rotate_after_s', message: 'only for generated keys: a key_file rotates by replacing the file and reloading' });
    }
    if (it.rotate_after_s !== undefined && it.rotate_after_s <= it.publish_ahead_s) {
      out.push({ path: 'internal_tokens.rotate_after_s', message: `must exceed publish_ahead_s (${it.publish_ahead_s}): a key is published that long before it signs` });
    }
    if (it.jwks_uri === undefined && typeof it.issuer === 'string' && !isUrl(it.issuer)) {
      out.push({ path: 'internal_tokens.jwks_uri', message: 'required when issuer is not an http(s) URL (the discovery document names an absolute jwks_uri)' });
    }
    (it.claims ?? []).forEach((c, j) => {
      if (RESERVED_CLAIMS.has(c)) out.push({ path: `internal_tokens.claims[${j}]`, message: `"${c}" is set by the proxy itself` });
      const why = NOT_COPIED.get(c);
      if (why !== undefined) out.push({ path: `internal_tokens.claims[${j}]`, message: `"${c}" is not copied: ${why}` });
      // a JavaScript object's own machinery, never a claim to copy: `__proto__` set the minted claims' prototype and
      // the claim was silently left out of every token (atk51a)
      if (c === '__proto__' || c === 'constructor' || c === 'prototype') out.push({ path: `internal_tokens.claims[${j}]`, message: `"${c}" cannot be copied: it names a JavaScript object's prototype machinery, not a claim` });
    });
  }
  for (const [name, up] of Object.entries(cfg.upstreams ?? {})) {
    if (up?.client_credentials !== undefined) checkClientCredentials(cfg, up.client_credentials, `upstreams.${name}.client_credentials`, out);
  }
  (cfg.routes ?? []).forEach((r, i) => {
    const at = `routes[${i}]`;
    const mode = r.forward?.token ?? 'keep';
    if (r.client_credentials !== undefined) checkClientCredentials(cfg, r.client_credentials, `${at}.client_credentials`, out);
    const cc = r.client_credentials ?? cfg.upstreams?.[r.upstream]?.client_credentials;
    if (mode !== 'keep' && cc !== undefined) {
      out.push({ path: `${at}.forward.token`, message: `"${mode}" conflicts with the client-credentials token of ${r.client_credentials !== undefined ? 'this route' : `upstream "${r.upstream}"`} (one Authorization header)` });
    }
    const up = cfg.upstreams?.[r.upstream];
    const host = r.match?.host;
    if ((cc !== undefined || mode === 'internal' || mode === 'exchange') && up?.host === 'preserve' && (host === undefined || host.startsWith('*.'))) {
      // the target (a shared ingress, a virtual-host router) picks the receiver by the client's Host
      out.push({ path: `${at}.match.host`, message: `upstream "${r.upstream}" has host: preserve and this route sends it a token the proxy obtains (${cc !== undefined ? 'client credentials' : `forward.token: ${mode}`}): the client's Host would pick who receives it — match one exact host, or give upstreams.${r.upstream}.host a literal name` });
    }
    if (r.forward?.caller_authorization !== undefined && cc === undefined) {
      out.push({ path: `${at}.forward.caller_authorization`, message: 'only for egress routes (a client_credentials block on the route or its upstream)' });
    } else if (typeof r.forward?.caller_authorization === 'string') {
      const why = callerHeaderProblem(cfg, r.forward.caller_authorization);
      if (why !== null) out.push({ path: `${at}.forward.caller_authorization`, message: why });
    }
    if (mode === 'keep') return;
    if (r.auth === 'none' || r.auth === undefined) {
      out.push({ path: `${at}.forward.token`, message: `"${mode}" needs an inbound token: the route must have an auth block` });
      return;
    }
    if (mode === 'internal' && it === undefined) {
      out.push({ path: `${at}.forward.token`, message: '"internal" requires the top-level internal_tokens section' });
    }
    if (mode === 'exchange') {
      for (const name of routeIssuers(cfg, r.auth) ?? Object.keys(cfg.issuers ?? {})) {
        const iss = cfg.issuers?.[name];
        if (iss === undefined) continue; // reported by the route's issuer check
        if (iss.token_exchange === undefined) out.push({ path: `${at}.forward.token`, message: `"exchange" requires issuers.${name}.token_exchange (the route accepts tokens of ${name})` });
        else if (iss.discovery === false && iss.token_exchange.token_endpoint === undefined) out.push({ path: `issuers.${name}.token_exchange.token_endpoint`, message: 'required when discovery is false' });
      }
    }
  });
  return out;
}

/**
 * Extend the forwarder's identity-header filter with every `forward.caller_authorization` name:
 * a client can never send that header itself, on any route (as with identity headers).
 */
export function withCallerHeaders(filter: (lowerName: string) => boolean, routes: readonly Config['routes'][number][]): (lowerName: string) => boolean {
  const names = new Set<string>();
  for (const r of routes) if (r.forward?.caller_authorization !== undefined) names.add(r.forward.caller_authorization.toLowerCase());
  if (names.size === 0) return filter;
  return (lowerName) => filter(lowerName) || names.has(lowerName);
}
