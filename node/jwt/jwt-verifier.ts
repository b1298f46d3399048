// The JWT authenticator the pipeline calls: cache lookup (synchronous on a hit),
// issuer selection by exact `iss`, cheap pre-checks on the main thread, unknown-kid
// refetch through the issuer's actor, then the authoritative check inline or on the pool
// (VerifyPlacement decides; both run verify.worker's checks: verifyTask on the pool, verifyInline here).
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { IssuerConfig } from '../config/schema.js';
import { inlineChecks } from '../tracing/index.js';
import { Interner } from './intern.js';
import { selectIssuer } from './issuer-select.js';
import { ZERO_JWKS, type JwksActor, type JwksCounters } from './jwks-actor.js';
import { indexByIss, keepRetiredCounters, prepareActors, type PreparedIssuers } from './issuer-set.js';
import { addJwksCounters, NO_POOL } from './verifier-stats.js';
export type { PreparedIssuers } from './issuer-set.js';
import { withKeyDeadline } from './key-wait.js';
import { TokenCache } from './token-cache.js';
import { TokenDigests } from './token-digest.js';
import { MAX_TOKEN_BYTES, parseCompact, type ParsedToken } from './token-parse.js';
import { checkClaims, checkHeader, resolveKey } from './token-rules.js';
import type { FailCode, VerifyEngine, VerifyResult } from './types.js';
import { VerifierPool, type PoolResult } from './verifier-pool.js';
import { VerifyPlacement } from './verify-placement.js';
import { DEFAULT_CACHE_MAX_TTL_S, DEFAULT_INLINE_BUDGET_US, type JwtVerifierOptions } from './verifier-options.js';
export type { JwtVerifierOptions } from './verifier-options.js';
import { verifyInline } from './verify.worker.js';
import { failOutcome, type VerifyOutcome } from './verify-outcome.js';
import { VerifiedToken } from './verified-token.js';

interface InFlight {
  readonly allowed: readonly string[] | null;
  readonly promise: Promise<VerifyOutcome>;
  /** It waits on an unknown-kid refetch: each request joining it waits at most its own keyWaitMs. */
  readonly refetch: boolean;
}

/**
 * Cache entry size estimate: fixed part (slot arrays, index positions, the hex digest that is both
 * key and tokenHash, the one VerifiedToken object) plus the payload's base64url length for
 * the claims object. Measured by `portcullis bench cache-memory` on EdDSA tokens with a
 * 312-char payload and shared claim strings (intern.ts): ~600 B of heap per entry, estimated 612 B.
 */
const ENTRY_OVERHEAD_BYTES = 300;
/** An ES256/ES384 entry's twin digest (signature-twin.ts): a 64-char one-byte string and its field. */
const TWIN_BYTES = 88;

export class JwtVerifier {
  readonly #log: Logger;
  /** null in inline mode: no threads are started. */
  readonly #pool: VerifierPool | null;
  readonly #placement: VerifyPlacement;
  readonly #engine: VerifyEngine;
  readonly #cache: TokenCache<VerifiedToken>;
  readonly #digests = new TokenDigests();
  readonly #cacheMaxTtlMs: number;
  readonly #inflight = new Map<string, InFlight>();
  readonly #failed = new Map<FailCode, number>();
  /** #miss's answers that wait on an unknown-kid refetch (verify bounds each request's wait). */
  readonly #refetchWaits = new WeakSet<Promise<VerifyOutcome>>();
  /** Shared claim strings and scope arrays of cached principals (memory per cached token). */
  readonly #intern = new Interner();
  #actors: ReadonlyMap<string, JwksActor> = new Map<string, JwksActor>();
  /** Exact `iss` string → actors in config order (several configs may share an issuer). */
  #byIss = new Map<string, JwksActor[]>();
  /** Counters of actors retired by reloads, by issuer name: the totals and each issuer's counters never go backwards. */
  readonly #retired = new Map<string, JwksCounters>();
  #verified = 0;
  #started = false;
  #closed = false;

  constructor(opts: JwtVerifierOptions) {
    this.#log = opts.logger.child({ component: 'jwt' });
    this.#pool = opts.mode === 'inline' ? null : new VerifierPool({
      size: opts.poolSize, engine: opts.engine, filename: opts.workerFilename,
      concurrentTasksPerWorker: opts.concurrentTasksPerWorker, maxBatch: opts.maxBatch, taskTimeoutMs: opts.taskTimeoutMs,
    });
    this.#engine = opts.engine ?? 'node';
    this.#placement = new VerifyPlacement({ mode: opts.mode ?? 'auto', inlineBudgetUs: opts.inlineBudgetUs ?? DEFAULT_INLINE_BUDGET_US, processes: opts.processes });
    this.#cache = new TokenCache({ maxEntries: opts.cacheEntries, maxBytes: opts.cacheBytes });
    this.#cacheMaxTtlMs = (opts.cacheMaxTtlS ?? DEFAULT_CACHE_MAX_TTL_S) * 1000;
    this.reconfigure(opts.issuers);
  }

  /** Begin discovery/JWKS fetches for every issuer; non-blocking. */
  start(): void {
    this.#started = true;
    for (const a of this.#actors.values()) a.start();
  }

  /** True when every configured issuer has a key set. */
  ready(): boolean {
    for (const a of this.#actors.values()) if (a.snapshot === null) return false;
    return true;
  }

  /** True when issuer `name` has a key set (false for unknown names). */
  issuerReady(name: string): boolean {
    return this.#actors.get(name)?.snapshot != null;
  }

  /** Config name of the issuer `token` claims when that issuer has no key set yet; null otherwise (see TokenVerifier). */
  keylessIssuer(token: string, allowed: readonly string[] | null): string | null {
    const parsed = parseCompact(token);
    if (!parsed.ok) return null;
    const actor = selectIssuer(this.#byIss, parsed.payload, allowed);
    return actor !== null && actor.snapshot === null ? actor.name : null;
  }

  /** Drop a token from the cache (revocation); `tokenHash` is SHA-256 hex. */
  evict(tokenHash: string): boolean {
    return this.#cache.delete(tokenHash.toLowerCase());
  }

  /** SHA-256 hex of `token`: the cache key and its tokenHash (memoised). */
  digestOf(token: string): string { return this.#digests.of(token); }
  /** The cached verification of the token with SHA-256 hex `digest` (any issuer, any key state), or undefined; verifies nothing. */
  cached(digest: string): VerifiedToken | undefined { return this.#cache.peek(digest, Date.now()); }

  /** Drop every cached token (a key revoked by kid, a subject cut). */
  clearCache(): void {
    this.#cache.clear();
  }

  /** Resolves true once ready, false after `timeoutMs`; never rejects. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.ready()), timeoutMs);
      t.unref();
      void Promise.all([...this.#actors.values()].map((a) => a.ready)).then(() => { clearTimeout(t); resolve(this.ready()); });
    });
  }

  /**
   * Verify a bearer token. A cache hit (and any refusal decided on the main thread) returns
   * synchronously without allocating; otherwise a Promise. Never rejects, never throws.
   * `allowedIssuers` are config names; null = any configured issuer. `keyWaitMs`: how long this
   * request waits on an unknown-kid refetch (the route's deadline) before it is answered 503
   * `jwks_refetch_timeout`; absent = until the fetch settles (`jwks.timeout_ms`). `clientOf(who)`: the
   * requesting client's key, read only when the token goes to the pool (its lane of the pool's fair queue).
   */
  verify<W>(token: string, allowedIssuers: readonly string[] | null, keyWaitMs?: number, who?: W, clientOf?: (who: W) => string): VerifyOutcome | Promise<VerifyOutcome> {
    if (token.length > MAX_TOKEN_BYTES) return this.#fail('oversized');
    if (this.#closed) return this.#fail('pool_failure');
    const nowMs = Date.now();
    // hex: the same string is the cache key and the cached token's tokenHash (no string of its own)
    const digest = this.#digests.of(token);
    const hit = this.#cache.get(digest, nowMs);
    if (hit !== undefined) {
      const issuer = hit.issuer;
      if (allowedIssuers === null || allowedIssuers.includes(issuer)) {
        if (this.#actors.get(issuer)?.snapshot?.ids.has(hit.keyId) === true) return hit;
        this.#cache.delete(digest); // key withdrawn or issuer removed: judge it again
      }
    }
    // nothing in flight (always so inline): no lookup, whose first step hashes the fresh 64-char digest
    const joined = this.#inflight.size === 0 ? undefined : this.#inflight.get(digest);
    if (joined !== undefined && joined.allowed === allowedIssuers) return joined.refetch ? this.#keyWait(joined.promise, keyWaitMs) : joined.promise;
    try {
      const r = this.#miss(token, digest, allowedIssuers, nowMs, who, clientOf);
      if (!(r instanceof Promise)) return r;
      const promise = r.then(undefined, (err: unknown) => this.#bug(err, digest));
      const entry: InFlight = { allowed: allowedIssuers, promise, refetch: this.#refetchWaits.has(r) };
      this.#inflight.set(digest, entry);
      void promise.then(() => { if (this.#inflight.get(digest) === entry) this.#inflight.delete(digest); });
      return entry.refetch ? this.#keyWait(promise, keyWaitMs) : promise;
    } catch (err) {
      return this.#bug(err, digest);
    }
  }

  #keyWait(p: Promise<VerifyOutcome>, ms: number | undefined): Promise<VerifyOutcome> {
    return withKeyDeadline(p, ms, () => this.#fail('jwks_refetch_timeout'));
  }

  #bug(err: unknown, digest: string): VerifyOutcome {
    this.#log.error({ err, fingerprint: digest.slice(0, 16) }, 'jwt verification bug');
    return this.#fail('internal');
  }

  #miss<W>(token: string, digest: string, allowed: readonly string[] | null, nowMs: number, who?: W, clientOf?: (who: W) => string): VerifyOutcome | Promise<VerifyOutcome> {
    const parsed = parseCompact(token);
    if (!parsed.ok) return this.#fail(parsed.code);
    const actor = selectIssuer(this.#byIss, parsed.payload, allowed);
    if (actor === null) return this.#fail('wrong_issuer');
    const snap = actor.snapshot;
    if (snap === null) return this.#fail('keys_unavailable');
    // Cheap refusals here keep garbage and stale tokens off the pool; the worker re-checks everything.
    const bad = checkHeader(parsed.header, actor.policy) ?? checkClaims(parsed.payload, actor.policy, nowMs / 1000);
    if (bad !== null) return this.#fail(bad.code);
    if (parsed.signature.length === 0) return this.#fail('malformed');
    const alg = parsed.header.alg as string;
    const found = resolveKey(snap.byKid, snap.keys, parsed.header.kid, alg);
    if (found.kind === 'fail') return this.#fail(found.failure.code);
    if (found.kind === 'found') return this.#submit(token, parsed, digest, actor, nowMs, who, clientOf);
    const refetch = actor.refetchForUnknownKid();
    if (refetch === null) return this.#fail(actor.failing ? 'jwks_refetch_failed' : 'unknown_kid');
    const waiting = refetch.then(() => {
      const fresh = actor.snapshot!;
      const again = resolveKey(fresh.byKid, fresh.keys, parsed.header.kid, alg);
      if (again.kind === 'found') return this.#submit(token, parsed, digest, actor, Date.now(), who, clientOf);
      return this.#fail(again.kind === 'fail' ? again.failure.code : actor.failing ? 'jwks_refetch_failed' : 'unknown_kid');
    });
    this.#refetchWaits.add(waiting);
    return waiting;
  }

  /** The authoritative check: inline (synchronous with the node engine) or on the pool. */
  #submit<W>(token: string, parsed: ParsedToken, digest: string, actor: JwksActor, nowMs: number, who?: W, clientOf?: (who: W) => string): VerifyOutcome | Promise<VerifyOutcome> {
    const bundle = actor.bundle;
    if (bundle === null) return this.#fail('keys_unavailable');
    if (!this.#placement.takeInline()) return this.#onPool(token, digest, actor, bundle.version, nowMs, clientOf === undefined ? '' : clientOf(who as W));
    inlineChecks.count++; // a trace tells this synchronous miss from a cache hit by it
    // only auto has a per-turn budget to account: inline mode skips the clock and the turn's setImmediate
    const timed = this.#placement.mode === 'auto';
    const t0 = timed ? performance.now() : 0;
    // install is a no-op once this thread holds the version: the main thread keeps its own key state like a worker
    const r = verifyInline(token, actor.name, bundle, nowMs / 1000, parsed, this.#engine);
    if (timed) this.#placement.spent((performance.now() - t0) * 1000);
    return r instanceof Promise ? r.then((x) => this.#settle(x, token, digest, actor, Date.now())) : this.#settle(r, token, digest, actor, nowMs);
  }

  async #onPool(token: string, digest: string, actor: JwksActor, version: number, nowMs: number, client: string): Promise<VerifyOutcome> {
    const task = { token, issuer: actor.name, version, now: nowMs / 1000 };
    const pool = this.#pool!; // takeInline() is always true in inline mode
    let r = await pool.run(task, client);
    if (!r.ok && r.code === 'need_keys') {
      const bundle = actor.bundle;
      if (bundle === null) return this.#fail('keys_unavailable');
      r = await pool.run({ ...task, version: bundle.version, install: bundle }, client);
    }
    return this.#settle(r, token, digest, actor, Date.now());
  }

  /** A verifier's answer → the outcome; a success is cached (`now`: ms, when the answer came). */
  #settle(r: VerifyResult | PoolResult, token: string, digest: string, actor: JwksActor, now: number): VerifyOutcome {
    if (!r.ok) {
      if (r.code === 'need_keys') return this.#fail('internal');
      if (r.code === 'pool_failure' || r.code === 'pool_timeout' || r.code === 'internal') this.#log.warn({ reason: r.code, issuer: actor.name }, 'jwt verification unavailable');
      return this.#fail(r.code);
    }
    const claims = Object.freeze(this.#intern.claims(r.claims));
    const exp = claims.exp as number;
    // exp + skew: token-rules accepts exp until now − skew
    const outcome = new VerifiedToken(actor.name, claims, this.#intern.scopes(claims), exp + actor.policy.clockSkewS,
      digest, r.kid == null ? undefined : this.#intern.string(r.kid), actor.config.issuer, this.#intern.string(r.keyId), r.twin);
    this.#verified++;
    // expire at exp exactly (no skew inside the cache), and never later than the max TTL
    const expiresAt = Math.min(exp * 1000, now + this.#cacheMaxTtlMs);
    const payloadBytes = token.indexOf('.', token.indexOf('.') + 1) - token.indexOf('.');
    // an actor a reload replaced judged this under the old issuer policy: the answer is the old snapshot's, never cached for the new one
    if (this.#actors.get(actor.name) === actor) this.#cache.set(digest, outcome, expiresAt, ENTRY_OVERHEAD_BYTES + payloadBytes + (r.twin === null ? 0 : TWIN_BYTES), now);
    return outcome;
  }

  #fail(code: FailCode): VerifyOutcome {
    this.#failed.set(code, (this.#failed.get(code) ?? 0) + 1);
    return failOutcome(code);
  }

  /**
   * Reload, step 1: the actors a new issuer set needs, without touching the running ones (issuer-set.ts).
   * Actors of unchanged issuers (and their keys) are kept; a changed issuer with the same key
   * source starts from the old keys; new actors fetch nothing until commitIssuers. Never throws.
   */
  prepareIssuers(issuers: Readonly<Record<string, IssuerConfig>>): PreparedIssuers {
    return prepareActors(this.#actors, issuers, this.#log);
  }

  /** Reload, step 2: swap to `p` (synchronous, never throws); replaced actors retire (close once a fetch in flight settles), any change clears the cache and the joinable verifications. */
  commitIssuers(p: PreparedIssuers): void {
    if (this.#closed) { this.discardIssuers(p); return; }
    let changed = false;
    for (const [name, a] of this.#actors) {
      if (p.actors.get(name) === a) continue;
      changed = true;
      keepRetiredCounters(this.#retired, name, a);
      a.retire(); // a fetch in flight finishes for the requests waiting on it (README: in-flight requests keep their snapshot)
    }
    this.#actors = p.actors;
    this.#byIss = indexByIss(p.actors);
    if (this.#started) for (const a of p.created) a.start();
    // verifications in flight were started under the old issuer policy: they answer their own requests, but
    // a request of the new version must not join one (it got the old policy's verdict: 200 for an audience now refused)
    if (changed) { this.#cache.clear(); this.#inflight.clear(); }
  }

  /** A refused reload: close the actors prepareIssuers created (they never fetched). */
  discardIssuers(p: PreparedIssuers): void {
    for (const a of p.created) void a.close();
  }

  /** prepareIssuers + commitIssuers in one step. */
  reconfigure(issuers: Readonly<Record<string, IssuerConfig>>): void {
    if (this.#closed) return;
    this.commitIssuers(this.prepareIssuers(issuers));
  }

  /** Flat counters for /metrics and /cache/stats: totals (JWKS ones include issuers a reload retired), and each issuer's JWKS counters as `jwks.<issuer>.<counter>`. */
  stats(): Record<string, number> {
    const c = this.#cache.counters;
    const out: Record<string, number> = {
      cache_hits: c.hits,
      cache_misses: c.misses,
      cache_entries: this.#cache.size,
      cache_bytes: this.#cache.bytes,
      cache_max_entries: this.#cache.maxEntries,
      cache_max_bytes: this.#cache.maxBytes,
      cache_evictions: c.evictions,
      cache_expirations: c.expirations,
      ...(this.#pool?.stats() ?? NO_POOL),
      verify_inline: this.#placement.inline,
      verify_pool: this.#placement.pool,
      verify_inline_spills: this.#placement.spills,
      verify_prefers_inline: this.#placement.prefersInline ? 1 : 0,
      ...ZERO_JWKS,
      issuers: this.#actors.size,
      issuers_ready: 0,
      verify_ok: this.#verified,
      verify_inflight: this.#inflight.size,
    };
    addJwksCounters(out, this.#retired, this.#actors);
    for (const [code, n] of this.#failed) out[`verify_failed_${code}`] = n;
    return out;
  }

  /** Stop fetches and workers; later calls to verify answer unavailable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#placement.close();
    await Promise.all([...[...this.#actors.values()].map((a) => a.close()), this.#pool?.close()]);
    this.#cache.clear();
    this.#digests.clear();
  }
}
