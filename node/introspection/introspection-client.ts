// RFC 7662 token introspection for one issuer: single-flight per token, a bounded
// cache of outcomes (never past `exp`), and fail-closed errors: an authorization-server
// failure is a 503, never cached. The wire side lives in introspection-caller.ts.
import { hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { IntrospectionResult } from '../contracts/index.js';
import type { Principal } from '../pipeline/context.js';
import type { VerifyFail, VerifyOutcome } from '../pipeline/token-verifier.js';
import { IntrospectionCache, resultSize } from './introspection-cache.js';
import { IntrospectionCaller, type CallAnswer, type CallFailReason, type IntrospectionConfig } from './introspection-caller.js';
import { shownEnvName } from '../config/env-check.js';
import { jwsKeyFacts, withHeaderKid, type JwsKeyFacts } from './jws-kid.js';
import { judgeAnswer, sharedResult, type AnswerRules } from './answer-judge.js';
import { deepFreeze } from './answer-claims.js';
import { InFlightDrops } from './in-flight-drops.js';
import { FailureLog } from './failure-log.js';
import { REFUSED, heldOutcome, unavailableOutcomes } from './refusals.js';
import { withinDeadline } from './lookup-deadline.js';
import { ClientBudget, clientKey } from './client-budget.js';
import { LateWatches } from './late-watches.js';
import { DEFAULT_MAX_ENTRIES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RETRY_AFTER_S, type IntrospectionClientOptions } from './introspection-client-options.js';
export type { IntrospectionClientOptions } from './introspection-client-options.js';
import type { IntrospectionStats } from './introspection-stats.js';
export { INTROSPECTION_GAUGES, type IntrospectionStats } from './introspection-stats.js';

/** Longer tokens are refused without asking the authorization server. */
const MAX_TOKEN_CHARS = 16 * 1024; // 16 KiB
const HASH_HEX = /^[0-9a-f]{64}$/;
/** Longest a lookup outlives `timeout_ms` without a cluster coordinator: the caller's sweeper tick (≤ 250 ms). */
const SWEEP_SLACK_MS = 250;

class CallFailure extends Error { constructor(readonly reason: CallFailReason, message: string) { super(message); } }

interface Flight {
  promise: Promise<VerifyOutcome>;
  /** evict() ran while the call was in flight: its answer must not be cached (revocation race). */
  evicted: boolean;
  /** InFlightDrops mark when the call started: a subject drop after it keeps the answer out of the cache. */
  readonly mark: number;
  /** The client key charged a place for this call (ClientBudget); null: none. */
  readonly client: string | null;
  /** The client key the call waits under in the caller's fair queue ('' when not known). */
  readonly queuedAs: string;
  /** The call timed out on the wire: its place is given back when it leaves the wire (#awaitLate), not when the flight ends. */
  late: boolean;
}

/**
 * Introspection client of one issuer. `lookup` answers from the cache synchronously, else
 * makes (or joins) one call per token. Failures of the authorization server become
 * PORTCULLIS_ERR_AUTH_UNAVAILABLE with Retry-After and are never cached.
 */
export class IntrospectionClient {
  readonly name: string;
  readonly #cfg: IntrospectionConfig;
  /** What an answer is held to (answer-judge.ts). */
  readonly #rules: AnswerRules;
  readonly #caller: IntrospectionCaller;
  readonly #cache: IntrospectionCache<VerifyOutcome>;
  readonly #inflight = new Map<string, Flight>();
  readonly #log: Logger | null;
  // the count of failures no later line reported (an outage shorter than the interval, its last second)
  readonly #failureLog = new FailureLog(Date.now, (l) => this.#log?.warn({ reason: l.reason, detail: l.detail, status: l.status, suppressed: l.suppressed }, 'introspection failures left out'));
  readonly #now: () => number;
  /** Whether the first accepted answer without `aud` (require_aud off) was logged: once per client. */
  #audlessSaid = false;
  readonly #onResult: IntrospectionClientOptions['onResult'];
  readonly #coordinate: IntrospectionClientOptions['coordinate'];
  /** Timed-out calls still on the wire, by token key: an eviction, or a newer answer, meanwhile keeps their late answer out of the cache. */
  readonly #late = new LateWatches();
  /** Subjects dropped while calls were on the wire (an IdP's token-claims-change). */
  readonly #drops = new InFlightDrops();
  readonly #stats: Omit<IntrospectionStats, 'cache_entries' | 'cache_evictions'> = {
    calls_ok: 0, calls_failed: 0, calls_inactive: 0, singleflight_waits: 0, calls_queue_full: 0, calls_late: 0, lookups_deadline: 0,
    calls_client_limited: 0, calls_preempted: 0, calls_held: 0, cache_hits: 0, cache_misses: 0, latency_ms_sum: 0, latency_count: 0,
  };
  #closed = false;
  readonly #unavailable: Readonly<Record<CallFailReason | 'introspection_failed', VerifyFail>>;
  /** Places per client (introspection.per_client_max, an optional hard cap); null: no per-client limit (the default). */
  readonly #budget: ClientBudget | null;
  readonly #retryAfterS: number;
  /** The last 503 of a held call (Retry-After: what is left of the hold), rebuilt when that changes. */
  #held: VerifyFail | null = null;

  /** Throws when the issuer has no introspection section or the secret's variable is unset. */
  constructor(opts: IntrospectionClientOptions) {
    const cfg = opts.issuer.introspection;
    if (cfg === undefined) throw new Error(`issuers.${opts.name}.introspection: not configured`);
    const secret = (opts.env ?? process.env)[cfg.client_secret_env];
    if (secret === undefined || secret === '') {
      throw new Error(`issuers.${opts.name}.introspection.client_secret_env: environment variable ${shownEnvName(cfg.client_secret_env)} is not set`);
    }
    this.name = opts.name;
    this.#cfg = cfg;
    this.#rules = {
      name: opts.name, issuerUrl: opts.issuer.issuer, audiences: opts.issuer.audiences, requireAud: cfg.require_aud, requireIss: cfg.require_iss,
      skewMs: opts.issuer.clock_skew_s * 1000, maxLifetimeS: opts.issuer.max_token_lifetime_s ?? null,
    };
    this.#caller = new IntrospectionCaller({
      name: opts.name, cfg, secret, endpoint: opts.endpoint ?? null, dispatcher: opts.dispatcher,
      maxResponseBytes: opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    });
    // a flood of distinct junk tokens answered "inactive" must not push the good tokens' answers out
    this.#cache = new IntrospectionCache<VerifyOutcome>(opts.maxEntries ?? DEFAULT_MAX_ENTRIES, opts.maxBytes, (o) => o.ok);
    this.#log = opts.logger?.child({ component: 'introspection', issuer: opts.name }) ?? null;
    this.#now = opts.now ?? Date.now;
    this.#onResult = opts.onResult;
    this.#coordinate = opts.coordinate;
    this.#retryAfterS = opts.retryAfterS ?? DEFAULT_RETRY_AFTER_S;
    this.#unavailable = unavailableOutcomes(this.#retryAfterS);
    const perClient = cfg.per_client_max ?? 0;
    this.#budget = perClient === 0 ? null : new ClientBudget(perClient);
  }

  /** The endpoint in use, or null until discovery supplied one. */
  get endpoint(): string | null { return this.#caller.endpoint; }

  /** Supply (or replace) the endpoint found by discovery; the config's endpoint always wins. */
  setEndpoint(url: string): void { this.#caller.setEndpoint(url); }

  /** This process's cached principal for `token` (SHA-256 hex `key`; a peer's answer included), or undefined; calls nobody, counts nothing. */
  cached(token: string, key: string): Principal | undefined {
    const hit = this.#closed ? undefined : this.#cache.peek(key, this.#now());
    const o = hit === undefined ? undefined : withHeaderKid(token, hit);
    return o?.ok === true ? o.principal : undefined;
  }

  /** An endpoint is known and the client is open. */
  ready(): boolean {
    return this.#caller.endpoint !== null && !this.#closed;
  }

  /**
   * Judge an opaque token. Cache hit → synchronous; otherwise one authorization-server call per
   * token however many lookups wait for it. `waitMs` (the route's deadline, ms): this lookup's
   * answer at the latest then — 503 `introspection_deadline`, the call goes on and its answer is
   * cached; absent = until the call settles (`timeout_ms`). The Promise never rejects.
   * `client`: the requesting client's address, read only when this lookup would start a call: its call
   * waits in that client's lane of the fair queue (introspection-caller.ts), and with per_client_max past
   * its cap it is answered 503 `introspection_client_limited` at once; absent = one anonymous client.
   */
  lookup(token: string, waitMs?: number, client?: () => string): VerifyOutcome | Promise<VerifyOutcome> {
    if (this.#closed) return this.#unavailable.introspection_closed;
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return REFUSED.malformed;
    const key = hash('sha256', token, 'hex');
    const hit = this.#cache.get(key, this.#now());
    // a result primed from a peer was judged without the token: a JWT's kid is added from its header
    if (hit !== undefined) { this.#stats.cache_hits++; return withHeaderKid(token, hit); }
    this.#stats.cache_misses++;
    const joined = this.#inflight.get(key);
    if (joined !== undefined) { this.#stats.singleflight_waits++; return this.#waitAtMost(joined.promise, waitMs); }
    // only a lookup that starts a call is charged: cached and joined tokens cost the AS nothing more
    const queuedAs = client !== undefined ? clientKey(client()) : '';
    const charged = this.#budget !== null && client !== undefined ? queuedAs : null;
    if (charged !== null && !this.#budget!.take(charged)) { this.#stats.calls_client_limited++; return this.#unavailable.introspection_client_limited; }
    // the server answered 429/503 a moment ago and asked to wait: no call, no flight, 503 at once
    if (this.#coordinate === undefined && this.#caller.heldForMs() > 0) {
      if (charged !== null) this.#budget!.give(charged);
      this.#stats.calls_held++;
      return this.#heldBack();
    }
    // the local queue has no room for this client: refused here, synchronously — no flight, no promise, no
    // thrown failure, and the 503 is written inside the listener's handler (a junk flood used to cost more per
    // refusal than an RSA verify). With a cluster coordinator the lease owner may be another member: it decides.
    if (this.#coordinate === undefined && this.#caller.sheds(queuedAs)) {
      this.#stats.calls_queue_full++;
      if (charged !== null) this.#budget!.give(charged);
      return this.#unavailable.introspection_queue_full;
    }
    const flight: Flight = { promise: null as unknown as Promise<VerifyOutcome>, evicted: false, mark: this.#drops.mark(), client: charged, queuedAs, late: false };
    flight.promise = this.#resolve(token, key, flight);
    this.#inflight.set(key, flight);
    return this.#waitAtMost(flight.promise, waitMs);
  }

  /** 503 for a call the server's 429/503 held back: Retry-After is the rest of the hold, at least retry_after_s. */
  #heldBack(): VerifyFail {
    const s = Math.max(this.#retryAfterS, Math.ceil(this.#caller.heldForMs() / 1000));
    if (this.#held === null || this.#held.error.retryAfter !== s) this.#held = heldOutcome(s);
    return this.#held;
  }

  /** A lookup's wait, ended at `ms`; no timer when the call's own `timeout_ms` ends it first (no cluster owner to wait on). */
  #waitAtMost(p: Promise<VerifyOutcome>, ms: number | undefined): Promise<VerifyOutcome> {
    if (ms === undefined || (this.#coordinate === undefined && ms >= this.#cfg.timeout_ms + SWEEP_SLACK_MS)) return p;
    return withinDeadline(p, ms, () => { this.#stats.lookups_deadline++; });
  }

  /** Drop a token's cached outcome (revocation); an answer still in flight will not be cached. */
  evict(tokenHash: string): boolean {
    const f = this.#inflight.get(tokenHash);
    if (f !== undefined) f.evicted = true;
    this.#late.overtake(tokenHash);
    return this.#cache.delete(tokenHash);
  }

  /** Drop every cached outcome; answers still in flight will not be cached. Returns how many went. */
  dropAll(): number {
    for (const f of this.#inflight.values()) f.evicted = true;
    this.#late.overtakeAll();
    const n = this.#cache.size;
    this.#cache.clear();
    return n;
  }

  /**
   * Drop the cached outcomes of tokens whose principal is `sub` (of this issuer, when `iss` is not
   * null): the next request is introspected again (an IdP said the subject's claims changed).
   * Returns the dropped token hashes.
   */
  dropSubject(iss: string | null, sub: string): string[] {
    if (iss !== null && iss !== this.#rules.issuerUrl) return [];
    this.#drops.note(sub, this.#inflight.size > 0 || this.#late.size > 0);
    return this.#cache.dropWhere((v) => v.ok && v.principal.claims.sub === sub);
  }

  /** How long this issuer's answers may be cached, ms (`cache_ttl_s`, `negative_ttl_s`): results learnt from other members are capped by them. */
  resultBounds(): { readonly positiveTtlMs: number; readonly negativeTtlMs: number } {
    return { positiveTtlMs: this.#cfg.cache_ttl_s * 1000, negativeTtlMs: this.#cfg.negative_ttl_s * 1000 };
  }

  /** Install a result learnt elsewhere (another cluster member); does not call onResult. */
  prime(tokenHash: string, result: IntrospectionResult): boolean {
    if (this.#closed || !HASH_HEX.test(tokenHash)) return false;
    // another member's answer: a call of ours that timed out is taken for older (its late answer is dropped)
    this.#late.overtake(tokenHash);
    const now = this.#now();
    return this.#cache.set(tokenHash, judgeAnswer(result, tokenHash, now, this.#rules), result.expiresAt, now, resultSize(result.claims));
  }

  stats(): IntrospectionStats { return { ...this.#stats, cache_entries: this.#cache.size, cache_evictions: this.#cache.evictions }; }

  /** A reload replaced this client: lookups already waiting get their answer (within timeout_ms), then close(); resolves once closed. */
  retire(): Promise<void> { return this.#caller.drain().then(() => this.close()); }

  /** Abort calls in flight (their lookups answer 503), drop the cache, close the owned Agent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failureLog.flush();
    this.#cache.clear();
    await this.#caller.close();
  }

  async #resolve(token: string, key: string, flight: Flight): Promise<VerifyOutcome> {
    try {
      const call = (): Promise<IntrospectionResult> => this.#call(token, key, flight);
      const result = await (this.#coordinate !== undefined ? this.#coordinate(key, call) : call());
      // a call that timed out before this one began is older: its late answer must not be cached over this
      // one's, even once this one has left the cache (negative_ttl_s is short, a late answer up to late_answer_ms late)
      this.#late.overtake(key);
      const now = this.#now();
      const outcome = judgeAnswer(result, key, now, this.#rules, jwsKeyFacts(token));
      if (!this.#audlessSaid && outcome.ok && (result.claims?.aud === undefined || result.claims.aud === null)) this.#sayAudless();
      // an answer written before its subject was dropped (token-claims-change) serves this request only
      if (!flight.evicted && !this.#closed && !this.#drops.overtaken(flight.mark, result.claims)) {
        this.#cache.set(key, outcome, result.expiresAt, now, resultSize(result.claims));
        this.#filled(key, result, outcome);
      }
      return outcome;
    } catch (err) {
      if (this.#closed) return this.#unavailable.introspection_closed;
      if (err instanceof CallFailure) return err.reason === 'introspection_held' ? this.#heldBack() : this.#unavailable[err.reason];
      this.#log?.error({ err, fingerprint: key.slice(0, 16) }, 'introspection coordination failed');
      return this.#unavailable.introspection_failed;
    } finally {
      this.#inflight.delete(key);
      if (!flight.late) this.#giveBack(flight);
    }
  }

  /**
   * An answer was cached here: tell onResult (a hook that throws is logged, never the lookup's failure). One
   * refused here for malformed claims goes out as inactive: the bus carries strings as UTF-8, so a lone
   * surrogate in its `sub` (`alice\ud800`, refused) reached peers as well-formed U+FFFD text they accepted.
   */
  #filled(key: string, result: IntrospectionResult, outcome: VerifyOutcome): void {
    if (this.#onResult === undefined) return;
    const shared = outcome === REFUSED.badClaims ? { active: false, claims: null, expiresAt: result.expiresAt } : result;
    try { this.#onResult(key, sharedResult(shared, this.#rules)); } catch (err) { this.#log?.error({ err }, 'introspection onResult hook failed'); }
  }

  /** The flight's place back to its client's budget (once: a late call gives it when it leaves the wire). */
  #giveBack(flight: Flight): void {
    if (flight.client !== null) this.#budget?.give(flight.client);
  }

  /** One authorization-server call, counted and timed; rejects with CallFailure. */
  async #call(token: string, key: string, flight: Flight): Promise<IntrospectionResult> {
    const startedAt = this.#now();
    const pending = this.#caller.call(token, flight.queuedAs);
    if (!(pending instanceof Promise)) {
      // refused before any I/O: shedding is counted, not logged per token (a flood would flood the log)
      if (pending.reason === 'introspection_queue_full') this.#stats.calls_queue_full++;
      else if (pending.reason === 'introspection_held') this.#stats.calls_held++;
      throw new CallFailure(pending.reason, pending.detail);
    }
    const started = performance.now();
    const answer = await pending;
    if (!answer.ok && answer.reason === 'introspection_held') { this.#stats.calls_held++; throw new CallFailure(answer.reason, answer.detail); }
    if (!answer.ok && answer.reason === 'introspection_client_limited') {
      // pushed out of the queue unsent (its client held the most waiting calls): shedding, counted, not logged
      this.#stats.calls_preempted++;
      throw new CallFailure(answer.reason, answer.detail);
    }
    this.#stats.latency_ms_sum += performance.now() - started;
    this.#stats.latency_count++;
    if (!answer.ok) {
      this.#stats.calls_failed++;
      const line = this.#closed ? null : this.#failureLog.admit(answer.reason, answer.status, answer.detail);
      if (line !== null) this.#log?.warn({ reason: answer.reason, detail: answer.detail, status: answer.status, fingerprint: key.slice(0, 16), suppressed: line.suppressed }, 'introspection failed');
      if (answer.late !== undefined) {
        // the call still holds its connection: so does its client's place, until it leaves the wire
        flight.late = true;
        this.#awaitLate(key, answer.late, { jws: jwsKeyFacts(token), mark: flight.mark, startedAt, flight });
      }
      throw new CallFailure(answer.reason, answer.detail);
    }
    if (answer.response.active) this.#stats.calls_ok++;
    else this.#stats.calls_inactive++;
    return this.#toResult(answer.response, this.#now());
  }

  /** An answer as a cacheable result: active ones until min(cache_ttl_s, exp), inactive ones for negative_ttl_s. */
  #toResult(response: Readonly<Record<string, unknown>> & { readonly active: boolean }, now: number): IntrospectionResult {
    if (!response.active) return { active: false, claims: null, expiresAt: now + this.#cfg.negative_ttl_s * 1000 };
    const { active: _active, ...claims } = response;
    let expiresAt = now + this.#cfg.cache_ttl_s * 1000;
    if (typeof claims.exp === 'number' && Number.isFinite(claims.exp)) expiresAt = Math.min(expiresAt, claims.exp * 1000);
    return { active: true, claims: deepFreeze(claims), expiresAt };
  }

  /**
   * A call that timed out for its waiter stays on its connection; when the AS answers after
   * all, the answer fills the cache (and the cluster, through onResult), its TTL counted from
   * when the call began — unless the token was evicted, or its subject dropped, meanwhile, or an
   * entry was cached since (newer than this answer). A late failure is dropped: failures are never cached.
   */
  /**
   * The default (require_aud false) let this server's answer without `aud` through: said once, at warn, since a
   * server that leaves `aud` out cannot say a token was minted for another resource server.
   */
  #sayAudless(): void {
    this.#audlessSaid = true;
    this.#log?.warn({ require_aud: false }, 'introspection answer without aud accepted: this authorization server does not name the audience, so its tokens for other resource servers pass here too — set introspection.require_aud: true if it can name it, else give this API an authorization server (or client) of its own');
  }

  #awaitLate(key: string, late: Promise<CallAnswer>, call: { readonly jws: JwsKeyFacts | null; readonly mark: number; readonly startedAt: number; readonly flight: Flight }): void {
    // every call of the key still on the wire is watched (two may be late at once, each its own answer)
    const watch = this.#late.watch(key);
    void late.then((answer) => {
      this.#giveBack(call.flight);
      this.#late.unwatch(key, watch);
      if (!answer.ok || this.#closed) return;
      this.#stats.calls_late++;
      if (watch.evicted) return;
      const now = this.#now();
      // an entry cached meanwhile (another member's fill, a later call) is newer than this answer
      if (this.#cache.get(key, now) !== undefined) return;
      // trusted from when the call began (the server answered at some point since), not from its arrival
      const result = this.#toResult(answer.response, call.startedAt);
      if (this.#drops.overtaken(call.mark, result.claims)) return;
      const outcome = judgeAnswer(result, key, now, this.#rules, call.jws);
      if (this.#cache.set(key, outcome, result.expiresAt, now, resultSize(result.claims))) this.#filled(key, result, outcome);
    }).catch((err: unknown) => {
      // nobody awaits this chain: a throw here would be an unhandled rejection, which ends the process
      this.#log?.error({ err, fingerprint: key.slice(0, 16) }, 'late introspection answer dropped');
    });
  }
}
