// Config of the endpoints where identity providers push events (node/events): OpenID Connect
// Back-Channel Logout 1.0 per issuer, Shared Signals (SSF 1.0 push, RFC 8935) per transmitter
// under `event_sources:`. Off unless configured; every field with its default and unit.
import { z } from 'zod';
import { ALGS, envName, timeoutMs, timerS } from './schema-common.js';

/** An exact request path on the main listener: `/` then unreserved characters and `/`, no dot segments. */
const endpointPath = z.string().max(256)
  .regex(/^\/[A-Za-z0-9._~/-]*$/, 'an absolute path of letters, digits, . _ ~ - and /')
  .refine((p) => !p.split('/').some((s) => s === '.' || s === '..') && !p.includes('//'), 'no dot segments or empty segments');

/**
 * `issuers.<name>.backchannel_logout`: the OP POSTs `logout_token` here (form-encoded); a valid
 * one revokes the session (`sid`) or, with only `sub`, the user's tokens issued up to its `iat`.
 */
export const backchannelLogoutSchema = z.strictObject({
  /** Path on the main listener, answered before routing (shadows a route with the same path). */
  path: endpointPath,
  /** The `aud` the logout token must name: the client id the OP knows this relying party by. */
  client_id: z.string().min(1),
  /** Oldest `iat` accepted, s before now (plus the issuer's clock_skew_s); older logout tokens → 400. */
  max_age_s: z.number().int().min(1).max(3600).default(120),
});

export type BackchannelLogoutConfig = z.infer<typeof backchannelLogoutSchema>;

const SECEVENT = 'https://schemas.openid.net/secevent/';
/** The CAEP 1.0 and RISC 1.0 event types (a key under their namespace must be one of these: a typo is refused). */
export const STANDARD_EVENT_TYPES: readonly string[] = [
  ...['session-revoked', 'token-claims-change', 'credential-change', 'assurance-level-change', 'device-compliance-change', 'session-established', 'session-presented', 'risk-level-change']
    .map((e) => `${SECEVENT}caep/event-type/${e}`),
  ...['account-credential-change-required', 'account-purged', 'account-disabled', 'account-enabled', 'identifier-changed', 'identifier-recycled', 'credential-compromise',
    'opt-in', 'opt-out-initiated', 'opt-out-cancelled', 'opt-out-effective', 'recovery-activated', 'recovery-information-changed', 'sessions-revoked']
    .map((e) => `${SECEVENT}risc/event-type/${e}`),
];
/** What an event does: revoke the session it names (else as subject_before_event), revoke the subject's tokens issued up to the event, drop the subject's cached verdicts, or nothing. */
export const EVENT_ACTIONS = ['session', 'subject_before_event', 'drop_cache', 'ignore'] as const;
export type EventActionName = typeof EVENT_ACTIONS[number];

/** An event type URI: a standard CAEP/RISC type, or any other absolute URI (vendor events); never SSF verification (always acknowledged, nothing to map). */
const eventTypeKey = z.string().max(512).superRefine((k, ctx) => {
  if (!/^(https?:\/\/[^\s]+|urn:[^\s]+)$/i.test(k)) ctx.addIssue({ code: 'custom', message: 'an event type URI (https://… or urn:…)' });
  else if (k === `${SECEVENT}ssf/event-type/verification`) ctx.addIssue({ code: 'custom', message: 'the SSF verification event is always acknowledged and revokes nothing; it cannot be mapped' });
  else if (k.startsWith(SECEVENT) && !STANDARD_EVENT_TYPES.includes(k)) ctx.addIssue({ code: 'custom', message: 'not a CAEP 1.0 or RISC 1.0 event type (a typo?)' });
});

const httpUrl = z.string().refine((u) => {
  try { return /^https?:$/.test(new URL(u).protocol) && /^https?:\/\//i.test(u); } catch { return false; }
}, 'an http:// or https:// URL');

/**
 * `event_sources.<name>`: one SSF transmitter pushing Security Event Tokens (RFC 8417) to us
 * (RFC 8935). Local to an instance (it names secret variables and listener paths).
 */
export const eventSourceSchema = z.strictObject({
  /** The transmitter's `iss`; its metadata is `/.well-known/ssf-configuration` under it (SSF 1.0 §7.2). */
  issuer: httpUrl,
  /** The transmitter's JWKS; default: `jwks_uri` of its SSF metadata. */
  jwks_uri: httpUrl.optional(),
  /** A SET's `aud` must name one of these (the audience the stream was created with). */
  audiences: z.array(z.string().min(1)).min(1),
  algorithms: z.array(z.enum(ALGS, { message: `one of ${ALGS.join(', ')} (never none or HS*)` })).min(1).default(['RS256', 'ES256']),
  clock_skew_s: z.number().int().min(0).max(600).default(60), // seconds
  /** Oldest `iat` accepted, s before now (a transmitter retrying for longer than this gets 400). */
  max_age_s: z.number().int().min(1).max(86_400).default(900),
  push: z.strictObject({
    /** Exact path on the main listener (answered before routing). */
    path: endpointPath,
    /** Variable holding the exact `Authorization` header value the transmitter sends (e.g. `Bearer …`). */
    authorization_env: envName,
  }).optional(),
  /** RFC 8936 poll: one member at a time (rendezvous over live members) polls and acknowledges what the stream stored. */
  poll: z.strictObject({
    /** The stream's poll endpoint (SSF stream configuration `delivery.endpoint_url`). */
    endpoint: httpUrl,
    /** Variable holding the `Authorization` header value sent to the transmitter. */
    authorization_env: envName,
    interval_ms: z.number().int().min(100).max(300_000).default(1_000), // between polls when nothing more is available
    max_events: z.number().int().min(1).max(1_000).default(100), // maxEvents per poll
    timeout_ms: z.number().int().min(100).default(10_000), // per poll request, whole exchange (head and body): past it the poll fails and is retried
  }).optional(),
  /**
   * SSF 1.0 §8 stream management as a receiver: read the transmitter's stream at its
   * `configuration_endpoint`, create it when absent, request a verification event, read its status.
   * One member manages (rendezvous over live members); every member reads the stream and its status.
   */
  stream: z.strictObject({
    /** Variable holding the `Authorization` header value for the transmitter's management endpoints (e.g. `Bearer …`). */
    authorization_env: envName,
    /** How the stream delivers; default: push when `push` is configured, else poll. */
    delivery: z.enum(['push', 'poll']).optional(),
    /** Push: the URL the transmitter reaches `push.path` at (this proxy's public address); required for push delivery. */
    push_url: httpUrl.optional(),
    /** The stream's `description` when created. */
    description: z.string().min(1).max(256).optional(),
    refresh_s: z.number().int().min(1).max(3600).default(60), // re-read the stream and its status, seconds
    timeout_ms: z.number().int().min(100).default(10_000), // per management call, whole exchange (head and body), ms: past it the round fails and is retried
    /** Request a verification event (§8.1.4) when this member starts managing the stream. */
    verify: z.boolean().default(true),
  }).optional(),
  /**
   * Event type URI → what it does, over the defaults (session-revoked: session; credential-change,
   * account-disabled, account-purged, credential-compromise, sessions-revoked: subject_before_event;
   * token-claims-change: drop_cache; everything else: ignore).
   */
  events: z.record(eventTypeKey, z.enum(EVENT_ACTIONS, { message: `one of ${EVENT_ACTIONS.join(', ')}` })).default({}),
  /** `iss` of the access tokens that email, opaque and session subjects refer to; default: tokens of any issuer. */
  token_issuer: z.string().min(1).optional(),
  /** What an `email` / `opaque` subject names in access tokens (RFC 9493): a `sub` (or `sid`) value, or nothing (counted, no revocation). */
  subjects: z.strictObject({
    email: z.enum(['sub', 'ignore']).default('ignore'),
    opaque: z.enum(['sub', 'sid', 'ignore']).default('ignore'),
  }).default({}),
  jwks: z.strictObject({
    min_refresh_s: timerS(1).default(60), // lower bound on Cache-Control max-age, s
    max_refresh_s: timerS(1).default(3600), // upper bound / default refresh, s (≤ 2147483: a timer)
    unknown_kid_cooldown_s: z.number().int().min(0).default(10), // one refetch per cool-down
    timeout_ms: timeoutMs(5_000), // per fetch, ms
  }).default({}),
}).refine((s) => s.push !== undefined || s.poll !== undefined, { message: 'give push, poll or both (how the transmitter delivers)' })
  .superRefine((s, ctx) => {
    if (s.stream === undefined) return;
    const delivery = streamDelivery(s);
    if (delivery === 'push' && s.push === undefined) ctx.addIssue({ code: 'custom', path: ['stream', 'delivery'], message: 'push delivery needs the push block (the path the transmitter pushes to)' });
    if (delivery === 'push' && s.stream.push_url === undefined) ctx.addIssue({ code: 'custom', path: ['stream', 'push_url'], message: 'required for push delivery: the public URL of push.path the transmitter pushes to' });
    if (delivery === 'poll' && s.poll === undefined) ctx.addIssue({ code: 'custom', path: ['stream', 'delivery'], message: 'poll delivery needs the poll block' });
  });

/** The delivery method a managed stream uses: as configured, else push when a push path is configured. */
export function streamDelivery(s: { readonly stream?: { readonly delivery?: 'push' | 'poll' | undefined } | undefined; readonly push?: unknown }): 'push' | 'poll' {
  return s.stream?.delivery ?? (s.push !== undefined ? 'push' : 'poll');
}

export const eventSourcesSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), eventSourceSchema).default({});

export type EventSourceConfig = z.infer<typeof eventSourceSchema>;
