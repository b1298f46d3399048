// The one schema of portcullis.yaml: every field with its default and unit.
// Unknown keys are errors everywhere (a typo must not silently disable a rule).
// Cross-references (route → upstream, route → issuer) are checked in load.ts (validateConfig).
import { z } from 'zod';
import { backchannelLogoutSchema, eventSourcesSchema } from './event-sources-schema.js';
import { http2Schema, protocolMatchesTargets, upstreamProtocol } from './http2-schema.js';
import { tlsCipherListAccepted } from './tls-ciphers.js';
import { isUntrustedHeader, UNTRUSTED_REQUEST_HEADERS } from './untrusted-headers.js';
import { decisionSchema, grpcNeedsHttp2 } from './decision-schema.js';
import { logSchema, tracingSchema } from './observability-schema.js';
import { ALGS, clientCredentialsSchema, envName, httpUrl, ms, port, timeoutMs, timerS } from './schema-common.js';
import { routeSchema, claimPath } from './route-schema.js';
import { dpopSchema } from './dpop-schema.js';
import { clusterSchema } from './cluster-schema.js';

export { logSchema, dpopSchema, clusterSchema, clientCredentialsSchema };
export { routeSchema, routeAuthSchema, type RouteConfig, type RouteAuthConfig, type ClaimPredicate } from './route-schema.js';


const listen = (host: string, p: number) =>
  z.strictObject({ host: z.string().min(1).default(host), port: port.default(p) }).default({ host, port: p });

/** Most worker processes `server.workers` and `serve --workers` accept. */
export const MAX_WORKERS = 256;
/** Most verifier threads per process (`verifier.pool_size`): piscina starts them all at once. */
export const MAX_POOL_SIZE = 256;

export const serverSchema = z.strictObject({
  listen: listen('0.0.0.0', 8080),
  tls: z.strictObject({
    cert_file: z.string().min(1),
    key_file: z.string().min(1),
    passphrase_env: envName.optional(),
    /** TLS 1.2 suites in BoringSSL cipher-list syntax; default ECDHE with AES-GCM or ChaCha20-Poly1305 only (tls-ciphers.ts). */
    ciphers: z.string().min(1).refine(tlsCipherListAccepted, "not a cipher list the listener's TLS library (BoringSSL) accepts").optional(),
    /** Lowest TLS version served: TLS1.2 (default) or TLS1.3 (then TLS 1.2 handshakes fail; TLS 1.0/1.1 never work). */
    min_version: z.enum(['TLS1.2', 'TLS1.3']).default('TLS1.2'),
  }).superRefine((t, ctx) => {
    if (t.min_version === 'TLS1.3' && t.ciphers !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['ciphers'], message: 'TLS 1.2 suites mean nothing with min_version TLS1.3 (TLS 1.3 suites are fixed by the TLS library): remove one of them' });
    }
  }).optional(),
  limits: z.strictObject({
    max_body_bytes: z.number().int().min(0).default(10 * 1024 * 1024), // 10 MiB
    max_header_bytes: z.number().int().min(1024).default(16 * 1024), // 16 KiB, all header lines together
    max_url_bytes: z.number().int().min(64).default(8 * 1024), // 8 KiB
    /**
     * A request body with a Content-Length up to this is read whole before an upstream connection is taken
     * (node/http/body-buffer.ts), so a slow sender holds no upstream connection; 0 = every body streams.
     */
    buffer_request_body_bytes: z.number().int().min(0).max(16 * 1024 * 1024).default(64 * 1024), // 64 KiB; at most 16 MiB
    /** Bytes all bodies being read whole may hold together, per process; past it a body streams as when unbuffered. */
    buffer_request_body_total_bytes: z.number().int().min(0).default(64 * 1024 * 1024), // 64 MiB
  }).default({}),
  timeouts: z.strictObject({
    request_ms: timeoutMs(30_000), // 30 s to receive the whole request body → 408
    drain_ms: ms(10_000), // 10 s for in-flight requests at shutdown
    /**
     * After SIGTERM/SIGINT, before the drain: /readyz answers 503 while the listeners still accept
     * and serve normally, so a load balancer probing /readyz stops sending here before the port
     * closes (set it ≥ the probe's interval × fall count). 0 = the drain begins at once.
     */
    shutdown_delay_ms: z.number().int().min(0).max(300_000).default(0), // 0 ms; at most 5 min
  }).default({}),
  /** Worker processes: a number (1 … MAX_WORKERS), or "auto" = available parallelism. */
  workers: z.union([z.number().int().min(1).max(MAX_WORKERS), z.literal('auto')]).default(1),
  /**
   * With workers > 1: V8's young-generation floor for each worker process (`--min-semi-space-size`), MB per
   * semi-space. V8 shrinks an idle process's young generation to 1 MB and grows it back only as objects
   * survive, which a proxy's per-request garbage does not: after an idle spell a worker scavenged 8–14 times
   * a second at 2000 rps instead of once (bench tail-peer). 0 = V8's own policy. Takes effect when a worker starts.
   */
  min_semi_space_mb: z.number().int().min(0).max(256).default(16), // 16 MB per semi-space (V8 starts at 1 MB; a loaded worker grew to 32 MB here)
  /** With workers > 1: a worker not heard from this long (its event loop stuck) is killed and restarted, ms; above the 2 s after which it is not ready. */
  worker_silence_kill_ms: z.number().int().min(3_000).max(600_000).default(30_000), // 30 s: a liveness probe's usual 3 × 10 s
  /** Keep X-Forwarded-Proto/-Host sent by a trusted front proxy (X-Forwarded-For: forwarded.x_forwarded_for). */
  trust_forwarded: z.boolean().default(false),
  /**
   * With trust_forwarded: proxies of your own in front of this one, each appending to X-Forwarded-For. The
   * access log's `client` is the entry this many from the right (fewer entries, or not an IP: the peer). Count.
   */
  trusted_hops: z.number().int().min(1).max(16).default(1), // 1: one front proxy (nginx set_real_ip_from, Envoy xff_num_trusted_hops: 1)
  /**
   * Client-sent headers upstreams trust as the proxy's word (X-Real-IP, X-Original-URL, X-Rewrite-URL,
   * X-HTTP-Method-Override… — node/config/untrusted-headers.ts) are stripped before forwarding.
   */
  forwarded: z.strictObject({
    /** Names from that list to pass through anyway (e.g. X-Real-IP set by a trusted front proxy); any case. */
    keep_headers: z.array(z.string().transform((n) => n.toLowerCase()).refine(isUntrustedHeader, {
      message: `a header the proxy strips (one of ${UNTRUSTED_REQUEST_HEADERS.join(', ')}); others are forwarded anyway`,
    })).default([]),
    /** X-Forwarded-For: append the connection's address (rightmost = ours); keep a trusted front proxy's (needs
     * trust_forwarded); off: none. keep/off spare a getpeername per request while access log and tracing are off. */
    x_forwarded_for: z.enum(['append', 'keep', 'off']).default('append'),
  }).default({}),
  /**
   * How request paths are read, so that what an upstream resolves is what the proxy authorized
   * (README "Path normalisation"). Reloadable.
   */
  paths: z.strictObject({
    /** Accept `;` path parameters: route on segments without them (Servlet reading), forward them as sent. Only for upstreams that strip them. */
    allow_params: z.boolean().default(false),
    /**
     * Other readings of a path upstreams use; a path that one of them (or a combination) routes
     * elsewhere than the path as written is refused with 400. case: Express (default), IIS, with lookalike and NFKC-compatibility letters (`ａ`) read as ASCII;
     * trailing_slash: Express (strict off), Spring 5; trailing_dot: Windows/IIS; segment_spaces:
     * spaces (`%20`) at either end of a segment dropped (Spring < 4.3 trimTokens, IIS).
     */
    upstream_readings: z.array(z.enum(['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'])).default(['case', 'trailing_slash', 'trailing_dot', 'segment_spaces']),
  }).default({}),
  http2: http2Schema.optional(), // the HTTP/2 listener (node/http2); absent = none; fields in http2-schema.ts
  decision: decisionSchema, // forward-auth endpoints for edge proxies (node/decision, README "Forward auth"); off by default
  /** Proxied WebSockets (routes with `websocket: true`, node/ws). Read at start: a reload does not change them. */
  websocket: z.strictObject({
    max_message_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(1024 * 1024), // 1 MiB per message, either direction
    /** Bytes queued towards one side before backpressure: the upstream is paused (→ client) or the socket closed 1013 (→ upstream). */
    max_buffered_bytes: z.number().int().min(16 * 1024).max(256 * 1024 * 1024).default(1024 * 1024), // 1 MiB
    /** No frame from the client (pings answered included) for this long → closed; 0 = never; uWS accepts 0 or 8–960. */
    idle_timeout_s: z.number().int().refine((n) => n === 0 || (n >= 8 && n <= 960), '0, or 8 to 960 seconds').default(120),
  }).default({}),
}).superRefine(grpcNeedsHttp2).superRefine((s, ctx) => {
  // without trust, a client could write the address the upstream takes as the proxy's word
  if (s.forwarded.x_forwarded_for === 'keep' && !s.trust_forwarded) {
    ctx.addIssue({ code: 'custom', path: ['forwarded', 'x_forwarded_for'], message: 'keep passes the client\'s X-Forwarded-For unchanged: only behind a trusted front proxy (set server.trust_forwarded: true), else use append or off' });
  }
  if (s.trusted_hops !== 1 && !s.trust_forwarded) {
    ctx.addIssue({ code: 'custom', path: ['trusted_hops'], message: 'counts trusted front proxies in X-Forwarded-For: only with server.trust_forwarded: true (else a client names the logged address)' });
  }
}).default({});

export const adminSchema = z.strictObject({
  listen: listen('127.0.0.1', 9901),
  /** Env var holding the admin bearer token; without it only /healthz and /readyz answer. */
  token_env: envName.optional(),
  /**
   * Env var holding a read-only scrape token: accepted for GET /metrics only (every other
   * endpoint answers it 403), so Prometheus need not hold the admin token. Unset: none.
   */
  metrics_token_env: envName.optional(),
  /**
   * Open admin connections at once, per process. At the cap a new connection closes the oldest one not
   * serving a request (idle, or still sending its head), or is closed itself when every one is.
   */
  max_connections: z.number().int().min(1).max(65_536).default(256), // 256 connections
}).default({});

/** One check, one message (z.string().url() plus a refine reported two errors for one bad URL). */
/**
 * An upstream target: an http(s) URL without user:password. The proxy sends only scheme, host and
 * port; credentials written there would never reach the upstream and would sit in the config (and
 * a cluster policy) in the clear: refused, the message naming the path and never the value.
 */
const targetUrl = z.string().superRefine((u, ctx) => {
  let url: URL;
  try { url = new URL(u); } catch { url = new URL('invalid:'); }
  if (!/^https?:$/.test(url.protocol) || !/^https?:\/\//i.test(u)) ctx.addIssue({ code: 'custom', message: 'an http:// or https:// URL' });
  else if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'a target without user:password (never sent upstream; credentials belong in the upstream\'s own auth: client_credentials, internal tokens)' });
});

export const upstreamSchema = z.strictObject({
  targets: z.array(targetUrl).min(1),
  timeouts: z.strictObject({
    connect_ms: timeoutMs(2_000), // 2 s
    response_ms: timeoutMs(15_000), // 15 s until response headers → 504
    idle_body_ms: timeoutMs(30_000), // 30 s without a body byte → connection dropped
  }).default({}),
  pool: z.strictObject({
    connections: z.number().int().min(1).default(256), // per target
    keep_alive_ms: ms(4_000), // 4 s idle upstream keep-alive
  }).default({}),
  /**
   * HTTP/1.1 pipelining: requests in flight per connection (body-less GET/HEAD/OPTIONS only,
   * answered in order). Default 1 = off; only for upstreams known to frame every response right.
   */
  pipelining: z.number().int().min(1).max(64).default(1),
  /** Host header sent upstream: "preserve" (client's), "target" (target's host:port), or a literal. */
  host: z.string().min(1).default('target'),
  /** Prefix added in front of the (possibly stripped) path. */
  path_prefix: z.string().regex(/^\/.*[^/]$|^$/, 'a path starting with / and not ending with /').default(''),
  eject: z.strictObject({
    consecutive_failures: z.number().int().min(1).default(3), // gateway failures in a row (a 5xx answer neither counts nor restarts them)
    /** 5xx answers and gateway failures in a row that eject a target; 0 = off (default: a 5xx is the application's answer). */
    consecutive_5xx: z.number().int().min(0).default(0),
    duration_ms: ms(10_000), // 10 s out of rotation
    /** Most targets out at once, % of the upstream's (rounded down): 50 keeps at least half in rotation; 100 = all (then panic routing). */
    max_ejected_percent: z.number().int().min(0).max(100).default(50),
  }).default({}),
  /** `aud` of internal and exchanged tokens sent to this upstream; default: the upstream's name. */
  audience: z.string().min(1).optional(),
  /** Egress: attach a client-credentials token to every request to this upstream (node/s2s). */
  client_credentials: clientCredentialsSchema.optional(),
  protocol: upstreamProtocol, // h1 (default) | h2c | h2: http2-schema.ts
}).superRefine((u, ctx) => {
  protocolMatchesTargets(u, ctx);
  if (u.pipelining > 1 && u.protocol !== 'h1') ctx.addIssue({ code: 'custom', path: ['pipelining'], message: `pipelining is HTTP/1.1 only; protocol ${u.protocol} multiplexes already (leave it at 1)` });
});

export const issuerSchema = z.strictObject({
  issuer: z.string().min(1),
  /** Discovery document URL base; default: the issuer itself. Ignored when jwks_uri is set. */
  discovery: z.union([z.boolean(), httpUrl]).default(true),
  jwks_uri: httpUrl.optional(),
  audiences: z.array(z.string().min(1)).min(1),
  algorithms: z.array(z.enum(ALGS, { message: `one of ${ALGS.join(', ')} (never none or HS*)` })).min(1).default(['RS256', 'ES256']),
  clock_skew_s: z.number().int().min(0).max(600).default(60), // seconds
  max_token_lifetime_s: z.number().int().min(1).optional(), // seconds; exp − iat above it → 401
  require_typ: z.enum(['at+jwt']).optional(),
  jwks: z.strictObject({
    min_refresh_s: timerS(1).default(60), // lower bound on Cache-Control max-age, s
    max_refresh_s: timerS(1).default(3600), // upper bound / default refresh, s (≤ 2147483: a timer)
    unknown_kid_cooldown_s: z.number().int().min(0).default(10), // one refetch per issuer per cool-down
    timeout_ms: timeoutMs(5_000), // 5 s per JWKS or discovery fetch
  }).default({}),
  introspection: z.strictObject({
    endpoint: httpUrl.optional(), // default: from discovery
    client_id: z.string().min(1),
    client_secret_env: envName,
    auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    cache_ttl_s: z.number().int().min(0).default(60), // s; positive results, capped by exp; also caps the life of internal tokens minted from them (when > 0)
    negative_ttl_s: z.number().int().min(0).default(5), // active:false results
    require_aud: z.boolean().default(false), // true: an active answer without `aud` is refused (RFC 7662 makes it optional)
    /** true: an active answer without `iss` is refused (RFC 7662 makes it optional): set it for a shared multi-tenant authorization server. */
    require_iss: z.boolean().default(false),
    timeout_ms: timeoutMs(3_000), // the waiter's 503; the call itself keeps its connection until the AS answers (≤ late_answer_ms)
    /** A call whose waiter got its 503 may finish (its answer still fills the cache) for this long in total, from its start; then its connection is closed. At least timeout_ms. */
    late_answer_ms: timeoutMs(30_000), // 30 s
    /** Connections to the endpoint, which is also the most calls on the wire at once (one call per connection). */
    connections: z.number().int().min(1).max(1024).default(64),
    /** Calls waiting for a free connection; more → 503 with Retry-After at once (counted). Default: `connections`. */
    max_pending: z.number().int().min(0).max(100_000).optional(),
    /**
     * Optional hard cap: places (calls waiting or on the wire, lease waits in a cluster) one client may hold at
     * once; its next unknown token → 503 with Retry-After at once (counted). The client as the access log names
     * it (an IPv6 one by its /64). Default 0 = no cap: the waiting calls are shared fairly between clients
     * anyway (round robin, a full queue makes room for a client holding fewer), and a lone client keeps them all.
     */
    per_client_max: z.number().int().min(0).max(101_024).default(0), // places; 0 = off
  }).optional(),
  /** RFC 8693 token exchange at this issuer for routes with `forward.token: exchange` (node/s2s). */
  token_exchange: z.strictObject({
    token_endpoint: httpUrl.optional(), // default: from discovery
    client_id: z.string().min(1),
    client_secret_env: envName,
    auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    timeout_ms: timeoutMs(3_000), // 3 s per call → 503
    cache_entries: z.number().int().min(0).default(10_000), // exchanged tokens kept, per issuer
  }).optional(),
  backchannel_logout: backchannelLogoutSchema.optional(), // OIDC Back-Channel Logout receiver (node/events); off when absent
});

/** The proxy's own token issuer for `forward.token: internal` (node/s2s). */
export const internalTokensSchema = z.strictObject({
  issuer: z.string().min(1), // `iss` of minted tokens and of the discovery document
  jwks_uri: httpUrl.optional(), // default: <issuer>/.well-known/jwks.json
  alg: z.enum(['ES256', 'EdDSA']).default('ES256'),
  /** PEM (PKCS#8/SEC1) or private JWK; created (0600) when missing. Unset: generated in memory at start. */
  key_file: z.string().min(1).optional(),
  max_ttl_s: z.number().int().min(1).max(86_400).default(300), // 5 min upper bound on exp − iat
  /** Generated keys only: a new key every this many seconds; unset = no automatic rotation. */
  rotate_after_s: timerS(1).optional(), // ≤ 2147483 s: a timer
  /** A new key is published this long before it signs (and the JWKS max-age), s. */
  publish_ahead_s: z.number().int().min(0).default(60),
  /** Inbound claims copied into minted tokens besides sub, scope and client_id. */
  claims: z.array(z.string().min(1)).default([]),
  cache_entries: z.number().int().min(0).default(10_000), // inbound tokens with cached minted tokens
  /** Where signing runs: one worker thread (default, batched) or inline on the event loop. */
  signing: z.enum(['worker', 'inline']).default('worker'),
});

export const identitySchema = z.strictObject({
  /** Headers a client may never send; always stripped. Prefix match on "x-auth-". */
  strip_prefixes: z.array(z.string().min(1)).default(['x-auth-']),
  /** Default claim→header mapping for routes that do not set identity_headers. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), claimPath).default({
    'X-Auth-Subject': 'sub',
    'X-Auth-Scopes': 'scope',
    'X-Auth-Client-Id': 'client_id',
    'X-Auth-Issuer': 'iss',
  }),
}).default({});

export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  server: serverSchema,
  admin: adminSchema,
  issuers: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), issuerSchema).default({}),
  event_sources: eventSourcesSchema, // SSF transmitters pushing to us (node/events); local, not cluster policy
  identity: identitySchema,
  dpop: dpopSchema,
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), upstreamSchema),
  routes: z.array(routeSchema).min(1),
  internal_tokens: internalTokensSchema.optional(),
  cluster: clusterSchema,
  log: logSchema,
  tracing: tracingSchema,
  verifier: z.strictObject({
    // threads per process, all started at once: at most MAX_POOL_SIZE (a pushed policy's 100 000 crashed every member at its next start)
    pool_size: z.union([z.number().int().min(1).max(MAX_POOL_SIZE), z.literal('auto')]).default('auto'),
    cache_entries: z.number().int().min(0).default(100_000),
    cache_bytes: z.number().int().min(0).default(80 * 1024 * 1024), // 80 MiB: room for cache_entries at ~613 B each (more for larger tokens)
    // where signatures are checked: auto = measured at run time (README: Verifier placement), pool, inline
    mode: z.enum(['auto', 'pool', 'inline']).default('auto'),
    inline_budget_us: z.number().int().min(0).max(1_000_000).default(2000), // 2 ms of inline verification per event-loop turn (auto)
    // deadline of a token on the verifier pool → 503; a thread stuck on a batch that long is replaced
    task_timeout_ms: timeoutMs(5_000), // 5 s
  }).default({}),
});

export type Config = z.infer<typeof configSchema>;
export type ServerConfig = Config['server'];
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type IssuerConfig = z.infer<typeof issuerSchema>;
export type ClientCredentialsConfig = z.infer<typeof clientCredentialsSchema>;
export type InternalTokensConfig = z.infer<typeof internalTokensSchema>;
