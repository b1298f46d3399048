// After a reload: is a live request (an open WebSocket, a response still streaming) allowed by the
// new snapshot? Its route now, that route's policy for the principal, where its token was read, and
// its issuer still configured as it was; the token is not verified again (revocation and expiry end it).
import { compileClientCertRule, extract, type ClientCertRule, type CompiledPolicy, type RequestContext, type Snapshot } from '../pipeline/index.js';
import { judgeCertificate } from '../pipeline/client-cert-rule.js';
import { AMBIGUOUS } from '../routing/route-table.js';
import { BEARER_PROTOCOL_PREFIX, cookieOriginAllowed } from '../ws/index.js';
import { boundJkt, type DpopPolicy } from '../dpop/index.js';

/**
 * A judge of live requests under `snap`, for one reload's sweep (client-certificate rules compiled
 * once per route). `websocket`: the request is a proxied WebSocket (its route must still be
 * `websocket: true` and a cookie token's page origin still allowed). Unsure → false (ended).
 */
export function liveJudge(snap: Snapshot): (ctx: RequestContext, websocket: boolean) => boolean {
  const certRules = new Map<string, ClientCertRule>();
  return (ctx, websocket) => {
    const m = snap.table.resolve(ctx.method, ctx.host, ctx.path);
    if (m === null || m === AMBIGUOUS || !('route' in m)) return false;
    const route = m.route.config;
    if (websocket && !route.websocket) return false;
    if (route.client_cert !== undefined) {
      // a listener that cannot see client certificates (uWS) or a connection that presented none: refused
      const cert = ctx.clientCert;
      if (cert === undefined || cert === null) return false;
      let rule = certRules.get(route.name);
      if (rule === undefined) certRules.set(route.name, rule = compileClientCertRule(route.client_cert));
      if (judgeCertificate(rule, cert).kind !== 'continue') return false;
    }
    // a cookie token's page origin must still be the route's own or listed (cookie_origins, websocket_origins)
    if (websocket && ctx.tokenSource === 'cookie' && !cookieOriginAllowed(ctx.headers, ctx.secure === true, snap.config.server.trust_forwarded, route)) return false;
    if (m.route.policy === null) return true;
    const principal = ctx.principal;
    if (principal === null) return false;
    // the issuer that vouched for the token must still be trusted as it was: a route without
    // auth.issuers ("every configured issuer") passes any principal, so an issuer the reload removed,
    // or whose name now stands for another server (`iss`), is refused here, as a new request would be
    const issuers = snap.config.issuers;
    if (!Object.hasOwn(issuers, principal.issuer) || principal.facts.iss !== issuers[principal.issuer]!.issuer) return false;
    // the new route must still read that very token from the request (token_sources: a query or
    // token header it no longer reads, or a second credential it now reads, refuses a new request)
    const reread: RequestContext = { ...ctx, token: null, tokenSource: null };
    // a bearer subprotocol became Authorization at the handshake (ws-proxy.ts accept): reading that
    // header back is not enough, the route must still take a token from Sec-WebSocket-Protocol
    if (websocket && bearerSubprotocol(ctx.headers) && !(route.auth !== undefined && route.auth !== 'none' && route.auth.token_sources.websocket_protocol)) return false;
    if (extract(reread, (m.route.policy as CompiledPolicy).sources).kind !== 'continue' || reread.token !== ctx.token) return false;
    // a route made DPoP-only takes no Bearer connection: it was admitted without a proof
    if ((m.route.policy as { readonly dpop?: DpopPolicy }).dpop?.required === true
      && (ctx.tokenScheme !== 'dpop' || boundJkt(principal.claims) === undefined)) return false;
    return snap.auth.authorize({ ...ctx, route: m.route, params: m.params, denyReason: null }).kind === 'continue';
  };
}

/** The handshake offered a bearer-token subprotocol (its token is the connection's credential: two are refused). */
function bearerSubprotocol(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'sec-websocket-protocol' && headers[i + 1]!.includes(BEARER_PROTOCOL_PREFIX)) return true;
  return false;
}
