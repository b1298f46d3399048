// A route of portcullis.yaml (`routes[]`): its match, its auth rule (issuers, scopes, claims,
// roles, DPoP, where the token may come from), the cookie and WebSocket origins it trusts, what is
// forwarded, and its access-log sampling. Cross-references are checked in load.ts.
import { z } from 'zod';
import { clientCertRuleSchema } from './client-cert-schema.js';
import { accessLogSchema } from './observability-schema.js';
import { routeHostSchema } from './route-host.js';
import { foreignPatternProblem } from './shape-hints.js';
import { claimPathProblem } from './claim-path-syntax.js';
import { clientCredentialsSchema, scopeToken } from './schema-common.js';

/** `scheme://host[:port]` exactly (an Origin header's form): http(s), no path, query, fragment or userinfo. */
function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return /^https?:$/.test(u.protocol) && /^https?:\/\/[^/?#@]+\/?$/i.test(o);
  } catch { return false; }
}

/** A claim path: dots nest, a "quoted" key keeps its dots (claim-path-syntax.ts). */
export const claimPath = z.string().min(1).superRefine((p, ctx) => {
  const why = claimPathProblem(p);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

const claimPredicate = z.strictObject({
  claim: claimPath, // dotted path, e.g. realm_access.roles
  equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
  one_of: z.array(z.union([z.string(), z.number()])).min(1).optional(),
  contains: z.union([z.string(), z.number()]).optional(),
  exists: z.boolean().optional(),
  /** Compare with a path parameter: `param: tenant` for /tenants/:tenant/*. */
  equals_param: z.string().min(1).optional(),
});

const NOT_EMPTY = 'at least one entry: an empty list checks nothing and would let every valid token through (leave the key out for no rule)';
const NO_LIST = 'all or any (or both): without either the block checks nothing and would let every valid token through';
const namesAList = (b: { all?: readonly string[] | undefined; any?: readonly string[] | undefined }): boolean => b.all !== undefined || b.any !== undefined;

export const routeAuthSchema = z.strictObject({
  required: z.literal(true).default(true),
  issuers: z.array(z.string().min(1)).optional(), // default: all configured issuers but the proxy's own (internal_tokens.issuer; route-issuers.ts)
  // scope-tokens: the 403 challenge's scope="…" must name them exactly (RFC 6750 §3), and a token's
  // space-separated scope never holds one with a space
  // an empty list, or a block with neither list, checks nothing: every valid token passed
  // (`any: []` read as "no any rule"); refused so a rule never silently opens a route
  scopes: z.strictObject({
    all: z.array(scopeToken).min(1, NOT_EMPTY).optional(),
    any: z.array(scopeToken).min(1, NOT_EMPTY).optional(),
  }).refine(namesAList, NO_LIST).optional(),
  claims: z.array(claimPredicate).default([]),
  roles: z.strictObject({
    claim: claimPath.default('roles'),
    all: z.array(z.string().min(1)).min(1, NOT_EMPTY).optional(),
    any: z.array(z.string().min(1)).min(1, NOT_EMPTY).optional(),
  }).refine(namesAList, NO_LIST).optional(),
  /** DPoP (RFC 9449). DPoP-bound tokens (cnf.jkt) need a valid proof on every route; these settings apply to this route's proofs. */
  dpop: z.strictObject({
    required: z.boolean().default(false), // true: only DPoP-bound tokens sent as `Authorization: DPoP` with a valid proof
    iat_window_s: z.number().int().min(1).max(600).default(60), // proof iat within ± this of now, seconds
    nonce: z.boolean().default(false), // require a server nonce in the proof (401 use_dpop_nonce + DPoP-Nonce otherwise)
  }).default({}),
  token_sources: z.strictObject({
    header: z.string().min(1).optional(), // extra header carrying the bare token
    cookie: z.string().min(1).optional(),
    query: z.boolean().default(false), // ?access_token= (RFC 6750 §2.3), off by default
    /** WebSocket routes: accept the token as subprotocol `base64url.bearer.authorization.k8s.io.<base64url token>`. */
    websocket_protocol: z.boolean().default(false),
  }).default({}),
});

export const routeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -'),
  match: z.strictObject({
    // a full URL or a regular expression (Oathkeeper's match.url) is named as such, with the fix
    path: z.string().refine((p) => p.startsWith('/'), (p) => ({ message: foreignPatternProblem(p) ?? 'a path starting with /' })),
    // CONNECT opens a tunnel (RFC 9110 §9.3.6): never routed (route-table.ts), so never listable
    methods: z.array(z.string().regex(/^[A-Za-z]+$/).refine((m) => m.toUpperCase() !== 'CONNECT', 'CONNECT opens a tunnel and is never routed: the proxy relays HTTP messages only')).min(1).optional(),
    host: routeHostSchema.optional(), // exact or *.example.com; normalised as Host is read (route-host.ts)
  }),
  /**
   * With match.methods: what a method the route does not list gets on its host and path. Unset: it goes on to
   * the next route that matches (a broader one), and check-config, start and reload warn when that route asks
   * for less (auth: none or another auth block); fall_through: the same, intended, no warning; refuse: 405
   * with `Allow` naming the listed methods (RFC 9110 §15.5.6) unless a route of the same host and path lists it.
   */
  other_methods: z.enum(['fall_through', 'refuse']).optional(),
  upstream: z.string().min(1),
  /** "none" must be explicit; a route without auth is denied. */
  auth: z.union([z.literal('none'), routeAuthSchema]).optional(),
  client_cert: clientCertRuleSchema.optional(), // required client-certificate identity (client-cert-schema.ts); with `auth: none` too
  strip_prefix: z.string().startsWith('/').optional(),
  timeout_ms: z.number().int().min(1).optional(), // ms; overrides upstream response_ms (504); also ends waits before forwarding (outbound token, unknown-kid JWKS refetch, introspection call: 503)
  /** Proxy WebSocket upgrades on this route (closed 1008 when the token is revoked or expires); false: upgrades are forwarded as plain requests. */
  websocket: z.boolean().default(false),
  /**
   * Origins (`https://app.example`) whose pages may use a token from a cookie on this route besides
   * the route's own origin: for requests with a state-changing method (not GET/HEAD/OPTIONS) and for
   * WebSocket handshakes; another page's → 403 (cross-site request forgery, WebSocket hijacking).
   */
  cookie_origins: z.array(z.string().refine(isOrigin, 'an origin: http(s)://host[:port], nothing after it')).default([]),
  /** Origins allowed for WebSocket handshakes only, in addition to `cookie_origins` (not for other requests). */
  websocket_origins: z.array(z.string().refine(isOrigin, 'an origin: http(s)://host[:port], nothing after it')).default([]),
  forward: z.strictObject({
    authorization: z.enum(['keep', 'strip']).default('keep'),
    identity_headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), claimPath).optional(),
    /** keep: the inbound token as sent; internal: a token minted by the proxy; exchange: RFC 8693 at the issuer. */
    token: z.enum(['keep', 'internal', 'exchange']).default('keep'),
    /** Egress: send the caller's own Authorization upstream in this header (default: dropped). */
    caller_authorization: z.string().regex(/^[A-Za-z0-9-]+$/).optional(),
  }).default({}),
  /** Egress: a client-credentials token for this route (overrides the upstream's). */
  client_credentials: clientCredentialsSchema.optional(),
  /** Access-log sampling (README: Logs); absent: every request logged. */
  access_log: accessLogSchema.optional(),
});

export type RouteConfig = z.infer<typeof routeSchema>;
export type RouteAuthConfig = z.infer<typeof routeAuthSchema>;
export type ClaimPredicate = z.infer<typeof claimPredicate>;
