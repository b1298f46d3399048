// `forward.token: exchange` (RFC 8693): the inbound token becomes the subject_token of a
// token-exchange request at the issuer that verified it, for the upstream's audience. The
// answer is cached per (inbound token, audience) within its lifetime and the inbound
// token's, fetched once for concurrent requests. Failure → 503; the original token is never sent instead;
// after the endpoint itself failed (unreachable, slow, a 5xx/429, an HTTP error that is no OAuth answer) no call is made for 1 s.
import type { Dispatcher } from 'undici';
import type { IssuerConfig } from '../config/index.js';
import { proxyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RequestContext } from '../pipeline/context.js';
import { TokenBoundCache, type Deny, type Grant, type OutboundResult, type RevocationLike } from './grant-cache.js';
import type { TokenFacts } from '../contracts/index.js';
import { REVOKED_MEANWHILE, reuseMarginS } from './internal-minter.js';
import { FAILURE_HOLD_MS, formBody, requestToken, shownTokenType, type EndpointDirectory, type OAuthClient, type TokenAnswer } from './token-endpoint.js';
import { shownEnvName } from '../config/env-check.js';
import { RefusalStats } from './upstream-refusal.js';
import { judgeExchanged } from './exchanged-token.js';

export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
/** `issued_token_type` values accepted for the access token we request (RFC 8693 §3: a JWT access token may be labelled `jwt`). */
const ACCESS_TOKEN_TYPES: ReadonlySet<string> = new Set([TOKEN_TYPE_ACCESS, 'urn:ietf:params:oauth:token-type:jwt']);
/** Exchanged tokens without expires_in are reused at most this long (and never past the inbound exp), s. */
export const DEFAULT_EXCHANGED_TTL_S = 300;

type ExchangeConfig = NonNullable<IssuerConfig['token_exchange']>;

const deny = (reason: string, code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' | 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' | 'PORTCULLIS_ERR_AUTH_FORBIDDEN' | 'PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE', message: string): Deny =>
  Object.freeze({ kind: 'deny' as const, reason, error: Object.freeze(proxyError(code, message, code === 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' ? { retryAfter: 1 } : undefined)) });

const UNAVAILABLE = deny('exchange_failed', 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token exchange at the authorization server failed');
const SUBJECT_REFUSED = deny('exchange_refused', 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'the authorization server refused to exchange the token');
const TARGET_REFUSED = deny('exchange_refused', 'PORTCULLIS_ERR_AUTH_FORBIDDEN', 'the authorization server refused a token for this upstream');
const HELD: Promise<Grant> = Promise.resolve(Object.freeze({ ok: false as const, deny: UNAVAILABLE }));
const UNUSABLE = {
  exchange_audience_mismatch: deny('exchange_audience_mismatch', 'PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE', 'the authorization server issued a token for another audience'),
  exchange_token_expired: deny('exchange_token_expired', 'PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE', 'the authorization server issued an expired token'),
  exchange_token_malformed: deny('exchange_token_malformed', 'PORTCULLIS_ERR_EXCHANGE_TOKEN_UNUSABLE', 'the authorization server issued a token whose claims cannot be read'),
} as const;
const NO_TOKEN = deny('exchange_failed', 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'no inbound token to exchange');

/** An OAuth error answer → what the client gets (pure). Outages and our own misconfiguration → 503. */
export function exchangeDenial(a: TokenAnswer & { ok: false }): Deny {
  if (a.failure !== 'refused') return UNAVAILABLE;
  if (a.oauthError === 'invalid_grant') return SUBJECT_REFUSED;
  if (a.oauthError === 'invalid_target' || a.oauthError === 'invalid_scope' || a.oauthError === 'unauthorized_client' || a.oauthError === 'access_denied') return TARGET_REFUSED;
  return UNAVAILABLE; // invalid_client, invalid_request, unsupported_grant_type: ours to fix
}

/**
 * The endpoint itself failing, so every caller's exchange would fail alike (held back FAILURE_HOLD_MS):
 * unreachable, slow, no endpoint, a 5xx or 429, or an HTTP error with no OAuth error code (a wrong URL).
 * Not an OAuth answer about this subject token or audience — also in a status other than 400/401
 * (Keycloak refuses an audience with 403 access_denied) — nor one odd answer.
 */
function endpointDown(a: TokenAnswer & { ok: false }): boolean {
  if (a.failure === 'http_error') return a.status >= 500 || a.status === 429 || a.oauthError === null;
  return a.failure === 'network_error' || a.failure === 'timeout' || a.failure === 'no_endpoint';
}

/** Token exchange for the tokens of one issuer. */
export class TokenExchanger {
  readonly #name: string;
  readonly #issuer: IssuerConfig;
  readonly #cfg: ExchangeConfig;
  readonly #client: OAuthClient;
  readonly #endpoints: EndpointDirectory;
  readonly #dispatcher: Dispatcher;
  readonly #cache: TokenBoundCache;
  readonly #log: Logger;
  #ok = 0;
  #failed = 0;
  #refused = 0;
  #holds = 0;
  /** performance.now() before which no exchange call follows a failed one; 0: none. */
  #holdUntil = 0;
  readonly #refusals = new RefusalStats();

  /** Throws when the client secret's environment variable is unset. */
  constructor(name: string, issuer: IssuerConfig, env: Readonly<Record<string, string | undefined>>, endpoints: EndpointDirectory, dispatcher: Dispatcher, logger: Logger) {
    const cfg = issuer.token_exchange!;
    const secret = env[cfg.client_secret_env];
    if (secret === undefined || secret === '') throw new Error(`issuers.${name}.token_exchange.client_secret_env: environment variable ${shownEnvName(cfg.client_secret_env)} is not set`);
    this.#name = name;
    this.#issuer = issuer;
    this.#cfg = cfg;
    this.#client = { clientId: cfg.client_id, secret, authMethod: cfg.auth_method, timeoutMs: cfg.timeout_ms };
    this.#endpoints = endpoints;
    this.#dispatcher = dispatcher;
    this.#cache = new TokenBoundCache(cfg.cache_entries, REVOKED_MEANWHILE);
    this.#log = logger;
  }

  /** Same issuer settings: a reload may keep this exchanger (and its cache). */
  sameAs(issuer: IssuerConfig): boolean {
    return JSON.stringify(issuer) === JSON.stringify(this.#issuer);
  }

  /** `Bearer <exchanged token>` for the request's token and `audience`. */
  authorization(ctx: RequestContext, audience: string): OutboundResult | Promise<OutboundResult> {
    const p = ctx.principal;
    if (p === null || ctx.token === null) return NO_TOKEN;
    return this.#cache.get(p.facts.tokenHash, audience, ctx, this.#load);
  }

  /** The upstream answered 401 invalid_token to `authz` (TokenBoundCache.refused). True when another token comes next. */
  refused(ctx: RequestContext, audience: string, authz: string, retrying: boolean): boolean {
    const p = ctx.principal;
    if (p === null) return false;
    const outcome = this.#cache.refused(p.facts.tokenHash, audience, authz);
    this.#refusals.note(outcome, retrying);
    if (outcome === 'evicted') this.#log.warn({ issuer: this.#name, audience, reason: 'upstream_invalid_token', retrying }, 'upstream refused the exchanged token (invalid_token): dropped, exchanged again');
    return outcome !== 'throttled';
  }

  revoke(tokenHash: string): boolean {
    return this.#cache.revoke(tokenHash);
  }

  /** A revocation naming an exchanged token itself (its jti, hash, kid, or a sub/client/sid cut of its issuer): evicted, the next request exchanges again. */
  revokeOwn(r: RevocationLike, isRevoked: ((f: TokenFacts) => boolean) | null): number {
    return this.#cache.revokeOwn(r, isRevoked);
  }

  readonly #load = (ctx: RequestContext, audience: string): Promise<Grant> => {
    // every caller's exchange goes to the same endpoint: while it fails, it is not called once per request
    if (this.#holdUntil !== 0 && performance.now() < this.#holdUntil) { this.#holds++; return HELD; }
    return this.#exchange(ctx.token!, ctx.principal!.exp, audience);
  };

  async #exchange(subjectToken: string, subjectExp: number, audience: string): Promise<Grant> {
    let endpoint = this.#cfg.token_endpoint ?? null;
    if (endpoint === null) endpoint = await this.#endpoints.resolve(this.#issuer.issuer, this.#issuer.discovery, this.#cfg.timeout_ms);
    if (endpoint === null) {
      this.#failed++;
      this.#holdUntil = performance.now() + FAILURE_HOLD_MS;
      this.#log.warn({ issuer: this.#name, reason: 'exchange_failed', detail: 'no token_endpoint in the discovery document' }, 'token exchange failed');
      return { ok: false, deny: UNAVAILABLE };
    }
    const form = formBody([
      ['grant_type', GRANT_TOKEN_EXCHANGE], ['subject_token', subjectToken], ['subject_token_type', TOKEN_TYPE_ACCESS],
      ['requested_token_type', TOKEN_TYPE_ACCESS], ['audience', audience],
    ]);
    const t0 = Date.now();
    const a = await requestToken(endpoint, form, this.#client, this.#dispatcher);
    if (!a.ok) {
      const d = exchangeDenial(a);
      if (d === UNAVAILABLE) this.#failed++; else this.#refused++;
      if (endpointDown(a)) this.#holdUntil = performance.now() + FAILURE_HOLD_MS;
      this.#log.warn({ issuer: this.#name, audience, reason: d.reason, detail: a.detail }, 'token exchange failed');
      return { ok: false, deny: d };
    }
    if (a.issuedTokenType !== null && !ACCESS_TOKEN_TYPES.has(a.issuedTokenType)) {
      // RFC 8693 §2.2.1: we asked for an access token; an ID token or refresh token must not travel as one
      this.#failed++;
      this.#log.warn({ issuer: this.#name, audience, reason: 'exchange_failed', detail: 'issued_token_type is not an access token' }, 'token exchange failed');
      return { ok: false, deny: UNAVAILABLE };
    }
    if (a.tokenType.toLowerCase() !== 'bearer') {
      this.#failed++;
      this.#log.warn({ issuer: this.#name, audience, reason: 'exchange_failed', detail: `token_type ${shownTokenType(a.tokenType)} is not Bearer` }, 'token exchange failed');
      return { ok: false, deny: UNAVAILABLE };
    }
    // expires_in counts from when we asked (the answer may have travelled a while): one that ran out
    // before the answer arrived is never forwarded
    const nowMs = Date.now();
    if (a.expiresIn !== null && t0 + a.expiresIn * 1000 <= nowMs) {
      this.#failed++;
      // the endpoint's answers are too short-lived for anyone: held like an endpoint that is down (else one call per request) —
      // unless the subject token itself ends within the hold: a server bounding the exchanged token by it answered so for
      // this caller only (before: one caller at its token's end held every user's exchange for 1 s, each time it came back)
      if (subjectExp * 1000 > nowMs + FAILURE_HOLD_MS) this.#holdUntil = performance.now() + FAILURE_HOLD_MS;
      this.#log.warn({ issuer: this.#name, audience, reason: 'exchange_failed', detail: 'the exchanged token expired before the answer arrived' }, 'token exchange failed');
      return { ok: false, deny: UNAVAILABLE };
    }
    // RFC 8693 §2.2.1: a JWT issued for another audience (or already expired) must not reach this upstream
    const nowS = nowMs / 1000;
    const v = judgeExchanged(a.accessToken, audience, nowS);
    if (v.kind === 'unusable') {
      this.#failed++;
      this.#log.warn({ issuer: this.#name, audience, reason: v.reason, detail: v.detail }, 'token exchange answer refused');
      return { ok: false, deny: UNUSABLE[v.reason] };
    }
    this.#ok++;
    this.#holdUntil = 0;
    // reused within the least of: expires_in (else 300 s), the JWT's own exp, the inbound token's exp
    const exp = Math.min(subjectExp, t0 / 1000 + (a.expiresIn ?? DEFAULT_EXCHANGED_TTL_S), v.kind === 'jwt' && v.exp !== null ? v.exp : Infinity);
    return { ok: true, authorization: `Bearer ${a.accessToken}`, useUntil: (exp - reuseMarginS(exp - nowS)) * 1000, facts: v.facts };
  }

  stats(): Record<string, number> {
    return { calls_ok: this.#ok, calls_failed: this.#failed, calls_refused: this.#refused, failure_holds: this.#holds, ...this.#cache.stats(), ...this.#refusals.stats() };
  }
}
