// Egress: a client-credentials token (RFC 6749 §4.4) per (issuer, client, audience, scope
// set), attached to calls to upstreams that have `client_credentials`. Served from memory
// until `refresh_before_s` before exp, then refreshed in the background while the current
// token is still served; one call at a time (single-flight). No valid token → 503, never an
// unauthenticated call, and a failing endpoint is called at most once per second meanwhile.
// A token an upstream refuses (401 invalid_token) is replaced, rate-limited per upstream; the other
// upstreams sharing it keep it until the replacement arrives.
import type { Dispatcher } from 'undici';
import type { ClientCredentialsConfig, Config } from '../config/index.js';
import { proxyError } from '../errors.js';
import type { Logger } from '../log.js';
import { namesToken, type Deny, type OutboundResult, type RevocationLike } from './grant-cache.js';
import type { TokenFacts } from '../contracts/index.js';
import { FAILURE_HOLD_MS, formBody, requestToken, shownTokenType, type EndpointDirectory, type OAuthClient } from './token-endpoint.js';
import { shownEnvName } from '../config/env-check.js';
import { REFUSAL_COOLDOWN_MS, RefusalStats } from './upstream-refusal.js';
import { judgeExchanged } from './exchanged-token.js';

/** Tokens without expires_in are reused this long, s. */
export const DEFAULT_CC_TTL_S = 60;
/** A failed background refresh is retried after 1 s, doubling to 30 s, while the old token is still good. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const UNAVAILABLE: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'client_credentials_failed',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'could not obtain a client-credentials token for the upstream', { retryAfter: 1 })),
});

/**
 * A token is reused at most this long whatever its `expires_in` says, s: an answer of 10^12 s (a
 * server sending ms, or garbage) would otherwise pin one token for the life of the process — never
 * refreshed, still sent after the server revoked or really expired it.
 */
export const MAX_CC_REUSE_S = 3_600; // 1 h

/** When to refresh and when to stop using a token obtained at `nowMs` for `lifetimeS`, capped at MAX_CC_REUSE_S (pure). */
export function ccSchedule(nowMs: number, expiresInS: number, refreshBeforeS: number): { refreshAt: number; useUntil: number } {
  const lifetimeS = Math.min(expiresInS, MAX_CC_REUSE_S);
  // stop using it a little before exp (in-flight time to the upstream); refresh well before that
  const useUntil = nowMs + (lifetimeS - Math.min(5, lifetimeS / 10)) * 1000;
  const ahead = Math.min(refreshBeforeS, lifetimeS / 2);
  return { refreshAt: nowMs + (lifetimeS - ahead) * 1000, useUntil };
}

/** The issuer URL and discovery setting behind a `client_credentials.issuer` (a name under issuers: or a URL). */
export function ccIssuer(cfg: Config, cc: ClientCredentialsConfig): { issuer: string; discovery: boolean | string } {
  const named = Object.hasOwn(cfg.issuers, cc.issuer) ? cfg.issuers[cc.issuer] : undefined;
  return named !== undefined ? { issuer: named.issuer, discovery: named.discovery } : { issuer: cc.issuer, discovery: true };
}

/** The source's identity: equal keys share one cached token. */
export function ccKey(cfg: Config, cc: ClientCredentialsConfig, audience: string): string {
  const iss = ccIssuer(cfg, cc);
  return JSON.stringify([iss.issuer, iss.discovery, cc.token_endpoint ?? null, cc.client_id, cc.client_secret_env, cc.auth_method, audience, [...new Set(cc.scopes)].sort(), cc.refresh_before_s, cc.timeout_ms]);
}

export class ClientCredentialsSource {
  readonly key: string;
  readonly #cc: ClientCredentialsConfig;
  readonly #issuer: { issuer: string; discovery: boolean | string };
  readonly #audience: string;
  readonly #client: OAuthClient;
  readonly #form: string;
  readonly #endpoints: EndpointDirectory;
  readonly #dispatcher: Dispatcher;
  readonly #log: Logger;
  #value: string | null = null;
  /** The current token's own revocation keys (judgeExchanged), null without one. */
  #facts: TokenFacts | null = null;
  /** performance.now() ms (expires_in is a length: a wall-clock step neither stretches nor cuts it). */
  #refreshAt = 0;
  #useUntil = 0;
  #pending: Promise<OutboundResult> | null = null;
  #retryMs = RETRY_FIRST_MS;
  /** performance.now() before which no call follows a failed one that left no usable token; 0: none. */
  #holdUntil = 0;
  /**
   * Per upstream name, when its refusal last dropped the token for it (performance.now(): a wall-clock
   * step must not stretch the cool-down). Bounded by the upstreams of the config.
   */
  readonly #droppedAt = new Map<string, number>();
  /**
   * Upstreams that refused the current token: their requests wait for the next one (and get the 503
   * when it cannot be had); the others keep the current one until the next arrives. null: none.
   */
  #refusedBy: Set<string> | null = null;
  readonly #refusals = new RefusalStats();
  #stats = { calls_ok: 0, calls_failed: 0, cache_hits: 0, cache_misses: 0, singleflight_waits: 0, refreshes_ahead: 0, failure_holds: 0 };

  /** Throws when the client secret's environment variable is unset. */
  constructor(key: string, cfg: Config, cc: ClientCredentialsConfig, audience: string, env: Readonly<Record<string, string | undefined>>, endpoints: EndpointDirectory, dispatcher: Dispatcher, logger: Logger, where: string) {
    const secret = env[cc.client_secret_env];
    if (secret === undefined || secret === '') throw new Error(`${where}.client_secret_env: environment variable ${shownEnvName(cc.client_secret_env)} is not set`);
    this.key = key;
    this.#cc = cc;
    this.#issuer = ccIssuer(cfg, cc);
    this.#audience = audience;
    this.#client = { clientId: cc.client_id, secret, authMethod: cc.auth_method, timeoutMs: cc.timeout_ms };
    const scopes = [...new Set(cc.scopes)];
    const pairs: Array<[string, string]> = [['grant_type', 'client_credentials'], ['audience', audience]];
    if (scopes.length > 0) pairs.push(['scope', scopes.join(' ')]);
    this.#form = formBody(pairs);
    this.#endpoints = endpoints;
    this.#dispatcher = dispatcher;
    this.#log = logger;
  }

  /**
   * `Bearer <token>` for a request to `upstream` (the route's upstream name): synchronous while cached
   * (a refresh may start behind it), else the call in flight. An upstream that refused the cached token
   * waits for the next one.
   */
  authorization(upstream = ''): OutboundResult | Promise<OutboundResult> {
    const now = performance.now();
    const v = this.#value;
    const refused = this.#refusedBy !== null && this.#refusedBy.has(upstream);
    if (v !== null && now < this.#useUntil && !refused) {
      this.#stats.cache_hits++;
      if (now >= this.#refreshAt && this.#pending === null) {
        this.#stats.refreshes_ahead++;
        this.#start();
      }
      return v;
    }
    if (this.#pending !== null) {
      this.#stats.singleflight_waits++;
      // a failed call answers the others with the still-valid token: never this upstream, which refused it
      return refused ? this.#pending.then((r) => (this.#refusedBy?.has(upstream) === true ? UNAVAILABLE : r)) : this.#pending;
    }
    if (this.#holdUntil !== 0 && performance.now() < this.#holdUntil) { this.#stats.failure_holds++; return UNAVAILABLE; }
    this.#stats.cache_misses++;
    const p = this.#start();
    return refused ? p.then((r) => (this.#refusedBy?.has(upstream) === true ? UNAVAILABLE : r)) : p;
  }

  /**
   * `upstream` answered 401 invalid_token to `authz` (RFC 6750 §3.1: expired early, revoked at the
   * authorization server, its keys rotated): when it is still the cached token, dropped for that
   * upstream, at most once per upstream per REFUSAL_COOLDOWN_MS — its next authorization() fetches a
   * new one (single-flight) that then serves every upstream, while the others keep this one until it
   * arrives. One upstream refusing every token (broken or hostile) thus forces one token-endpoint
   * call per 5 s, and neither takes the token from the others nor uses up their cool-down. A token
   * already replaced stays. True when authorization() now gives (or fetches) another token.
   */
  refused(authz: string, retrying: boolean, upstream = ''): boolean {
    if (this.#value !== authz || this.#refusedBy?.has(upstream) === true) return this.#refusals.note('replaced', retrying);
    const now = performance.now();
    if (now - (this.#droppedAt.get(upstream) ?? Number.NEGATIVE_INFINITY) < REFUSAL_COOLDOWN_MS) return this.#refusals.note('throttled', retrying);
    this.#droppedAt.set(upstream, now);
    (this.#refusedBy ??= new Set()).add(upstream);
    this.#log.warn({ audience: this.#audience, client_id: this.#cc.client_id, upstream, reason: 'upstream_invalid_token', retrying }, 'upstream refused the client-credentials token (invalid_token): a new one is fetched, the other upstreams keep it meanwhile');
    return this.#refusals.note('evicted', retrying);
  }

  #start(): Promise<OutboundResult> {
    const p = this.#fetch().then((r) => { this.#pending = null; return r; });
    this.#pending = p;
    return p;
  }

  async #fetch(): Promise<OutboundResult> {
    let endpoint = this.#cc.token_endpoint ?? null;
    if (endpoint === null) endpoint = await this.#endpoints.resolve(this.#issuer.issuer, this.#issuer.discovery, this.#cc.timeout_ms);
    // the schedule (expires_in: a length) runs on the monotonic clock; only a JWT's exp is a wall-clock time
    const t0 = performance.now();
    const wall0 = Date.now();
    const a = endpoint === null ? null : await requestToken(endpoint, this.#form, this.#client, this.#dispatcher);
    // a JWT's own exp bounds its use (aud is not compared: many servers ignore the audience parameter here)
    const jwt = a === null || !a.ok ? null : judgeExchanged(a.accessToken, null, Date.now() / 1000);
    if (a === null || !a.ok || a.tokenType.toLowerCase() !== 'bearer' || jwt?.kind === 'unusable') {
      return this.#failed(a === null ? 'no token_endpoint (discovery failed)' : !a.ok ? a.detail : jwt?.kind === 'unusable' ? jwt.detail : `token_type ${shownTokenType(a.tokenType)} is not Bearer`);
    }
    // expires_in (else 60 s), and never past a JWT's own exp: before, one with an earlier exp (or expires_in absent) was sent expired
    const jwtLeftS = jwt?.kind === 'jwt' && jwt.exp !== null ? jwt.exp - wall0 / 1000 : Infinity;
    const lifetimeS = Math.min(a.expiresIn ?? DEFAULT_CC_TTL_S, jwtLeftS);
    const s = ccSchedule(t0, lifetimeS, this.#cc.refresh_before_s);
    // an answer that arrived after the token's lifetime (counted from the call) ran out: never sent expired, and a
    // failed call like any other (held 1 s) — an endpoint answering expires_in 0.000001 was called once per request
    if (performance.now() >= s.useUntil) return this.#failed(`the token expired before the answer arrived (lifetime ${lifetimeS < 1 ? '<1' : Math.floor(lifetimeS)} s)`);
    this.#stats.calls_ok++;
    this.#retryMs = RETRY_FIRST_MS;
    this.#holdUntil = 0;
    this.#refusedBy = null;
    this.#value = `Bearer ${a.accessToken}`;
    this.#facts = jwt!.facts;
    this.#refreshAt = s.refreshAt;
    this.#useUntil = s.useUntil;
    return this.#value;
  }

  /** A call that left no new token: logged, counted, retried after a backoff; a still-valid token keeps being served, else 503 held FAILURE_HOLD_MS. */
  #failed(detail: string): OutboundResult {
    this.#stats.calls_failed++;
    this.#log.warn({ audience: this.#audience, client_id: this.#cc.client_id, reason: 'client_credentials_failed', detail }, 'client-credentials token request failed');
    // keep serving a still-valid token; try again after a backoff
    this.#refreshAt = performance.now() + this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    // an upstream that refused it waits (503) as if there were none: held back too
    if (this.#refusedBy !== null) this.#holdUntil = performance.now() + FAILURE_HOLD_MS;
    if (this.#value !== null && performance.now() < this.#useUntil) return this.#value;
    this.#holdUntil = performance.now() + FAILURE_HOLD_MS;
    return UNAVAILABLE;
  }

  /**
   * A revocation naming the current token itself (namesToken: its jti, hash, kid, a sub/client cut of
   * its issuer): dropped, the next request fetches a new one. Before, it was attached until its exp.
   */
  revokeOwn(r: RevocationLike, isRevoked: ((f: TokenFacts) => boolean) | null): boolean {
    if (this.#value === null || this.#facts === null || !namesToken(r, this.#facts, isRevoked)) return false;
    this.#value = null;
    this.#facts = null;
    this.#useUntil = 0;
    return true;
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.#stats, ...this.#refusals.stats() };
  }
}
