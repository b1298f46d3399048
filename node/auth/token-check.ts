// The token check of one proxy instance: the cluster gate (revocations replayed, bus up), the
// token's verification (JWT verifier pool, or RFC 7662 introspection per issuer) and the
// revocation check, plus the issuers' readiness. Reload in two steps (prepare → commit |
// discard), so warm keys and caches survive unchanged issuers and a refused reload changes nothing.
import { routeDeadlineMs, type Config } from '../config/index.js';
import type { IntrospectionSharing, TokenState } from '../contracts/index.js';
import { heapBoundedCacheBytes } from '../cache-heap-bound.js';
import { proxyError } from '../errors.js';
import { IntrospectionSet, type PreparedIntrospection } from '../introspection/index.js';
import { JwtVerifier, type PreparedIssuers } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { withRevocableLifetimes } from './revocable-lifetime.js';
import { CONTINUE, createAuthenticator, type Authenticate, type RequestContext, type StageResult, type TokenIntrospector } from '../pipeline/index.js';

export interface TokenCheckOptions {
  tokenState: TokenState | null;
  sharing: IntrospectionSharing | null;
  env: Readonly<Record<string, string | undefined>>;
}

/** Per issuer: keys loaded; introspection endpoint known (null: the issuer has no introspection). */
export type IssuerReadiness = Record<string, { keys: boolean; introspection: boolean | null }>;

/**
 * Issuers that cannot judge tokens yet (no keys, or no introspection endpoint for an issuer
 * with introspection), in config order: /readyz `issuers_waiting`.
 */
export function waitingIssuers(r: IssuerReadiness): string[] {
  return Object.entries(r).filter(([, i]) => !(i.introspection !== null ? i.introspection : i.keys)).map(([name]) => name);
}

/** A new config's token check, built by prepare and not yet in use. */
export interface PreparedTokenCheck {
  readonly config: Config;
  /** @internal */ readonly issuers: PreparedIssuers;
  /** @internal */ readonly introspection: PreparedIntrospection;
  /** @internal */ readonly authenticate: Authenticate;
}

export interface TokenCheck {
  /**
   * The cluster gate: null while requests can be judged. Closed (revocations replaying, bus lost, store
   * full): the revoked denial (401) for a token this process already knows is revoked — from a cached
   * verification or introspection answer (then ctx.principal is set), or a revocation of its hash —
   * else the 503 denial. Verifies nothing and calls nobody while closed. Open but not known current (a
   * `--workers` worker not heard from its primary lately): a promise of the same answer once it is, or 503.
   */
  gate(ctx: RequestContext): StageResult | Promise<StageResult> | null;
  /** Verify ctx.token and set ctx.principal; synchronous on cache hits, never rejects. */
  verify(ctx: RequestContext): StageResult | Promise<StageResult>;
  /** After verification (a revocation that landed meanwhile still counts): `r`, or the revoked denial. */
  revocation(ctx: RequestContext, r: StageResult): StageResult;
  /** Every issuer of the first config can judge tokens; O(1) once true (it stays true). */
  ready(): boolean;
  readiness(): IssuerReadiness;
  /** Issuers of the running config that cannot judge tokens yet. */
  waitingCount(): number;
  /** Build JWKS actors and introspection clients of new or changed issuers; nothing fetches yet. Throws, having built nothing, on an unset secret variable. */
  prepare(next: Config): PreparedTokenCheck;
  /** Swap to `p` (synchronous, never throws): new fetches start, retired clients close. */
  commit(p: PreparedTokenCheck): void;
  discard(p: PreparedTokenCheck): void;
  /** `jwt.*` and `introspection.*` counters (names read by /metrics and /cache/stats: keep them). */
  stats(): Record<string, number>;
  /** Drop this process's cached introspection outcomes of `sub` (of token issuer `iss` when not null); how many. */
  dropSubject(iss: string | null, sub: string): number;
  close(): Promise<void>;
}

const REVOKED: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'the token has been revoked')), reason: 'revoked',
});
const CATCHING_UP: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocations are being replayed', { retryAfter: 1 })), reason: 'revocations_catching_up',
});
const BUS_LOST: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation bus lost', { retryAfter: 5 })), reason: 'revocation_bus_lost',
});
const PRIMARY_SILENT: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocations from the primary are late', { retryAfter: 1 })), reason: 'revocations_primary_silent',
});
const BUS_CATCHING_UP: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocations from the bus are being caught up after a stall', { retryAfter: 1 })), reason: 'revocations_bus_catching_up',
});
const REVOCATIONS_INCOMPLETE: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation store full', { retryAfter: 30 })), reason: 'revocations_incomplete',
});

/** Create the token check for `config` (not started: call commit(prepare(config)) then start()). */
export function createTokenCheck(config: Config, logger: Logger, opts: TokenCheckOptions): TokenCheck & { start(): void } {
  const { tokenState } = opts;
  let current = config;
  const jwt = new JwtVerifier({
    issuers: {},
    poolSize: config.verifier.pool_size,
    cacheEntries: config.verifier.cache_entries,
    cacheBytes: heapBoundedCacheBytes(config.verifier.cache_bytes),
    mode: config.verifier.mode,
    inlineBudgetUs: config.verifier.inline_budget_us,
    taskTimeoutMs: config.verifier.task_timeout_ms,
    // proxy processes sharing the host's cores (serve --workers sets it in each worker)
    processes: Number(opts.env.PORTCULLIS_WORKER_COUNT ?? 1) || 1,
    logger,
  });
  const introspection = new IntrospectionSet({ logger, env: opts.env, sharing: opts.sharing });
  // what the store keeps a revocation without exp (read once, as the cluster member does): no token may live longer —
  // also without a token state (`explain`), so a verdict there is the one `serve` gives
  const revocationLifetimeS = config.cluster.revocation.max_token_lifetime_s;
  /**
   * Issuers whose readiness gates /readyz and every auth route: those of the config the check
   * started with, until all of them are ready once (then `opened`: keys are never dropped, a
   * failing refresh keeps the last good set). An issuer a reload adds never gates: its own
   * routes answer 503 until its keys arrive, the others keep working.
   */
  let gating: ReadonlySet<string> = new Set(Object.keys(config.issuers));
  let opened = false;
  // set by the first commit, before any request can arrive
  let authenticate: Authenticate = () => { throw new Error('token check used before its first commit'); };

  // a revoked token leaves every local cache at once (other kinds are refused by the per-request check)
  const unsubscribe = tokenState?.onRevoked((r) => {
    if (r.kind !== 'token') return;
    jwt.evict(r.value);
    introspection.evict(r.value);
  }) ?? (() => {});

  /** An issuer with introspection is ready once its endpoint is known (its JWTs are introspected until its keys load); any other needs its keys. */
  const issuerReady = (name: string): boolean => introspection.ready(name) ?? jwt.issuerReady(name);

  /**
   * While the gate is closed, only what this process already holds judges a token (no signature
   * check, no introspection call: a revocation may be missing, so nothing new may be decided): its
   * cached verification or introspection answer, else a revocation of its SHA-256. A token known to
   * be revoked is told so (401) instead of being sent back to retry a dead token (503).
   */
  const closed = (ctx: RequestContext, state: TokenState, reason: string): StageResult =>
    (knownRevoked(ctx, state) ? REVOKED : reason === 'bus_lost' ? BUS_LOST : reason === 'revocations_incomplete' ? REVOCATIONS_INCOMPLETE : CATCHING_UP);
  const knownRevoked = (ctx: RequestContext, state: TokenState): boolean => {
    const token = ctx.token;
    if (token === null) return false;
    const digest = jwt.digestOf(token);
    const known = jwt.cached(digest) ?? introspection.cached(token, digest);
    if (known === undefined) return state.isRevoked({ tokenHash: digest });
    if (!state.isRevoked(known.facts)) return false;
    ctx.principal = known; // the denial's log line names the token, as after verification
    return true;
  };

  const ready = (): boolean => {
    if (opened) return true;
    for (const name of gating) if (!issuerReady(name)) return false;
    opened = true;
    return true;
  };

  return {
    gate(ctx): StageResult | Promise<StageResult> | null {
      if (tokenState === null) return null;
      const g = tokenState.gate();
      if (!g.ok) return closed(ctx, tokenState, g.reason);
      const c = tokenState.current === undefined ? true : tokenState.current();
      if (c === true) return null;
      // judged once the state is current again (the gate may have closed meanwhile), else 503
      return c.then((v) => {
        if (!v.ok) return knownRevoked(ctx, tokenState) ? REVOKED : v.reason === 'bus_catching_up' ? BUS_CATCHING_UP : PRIMARY_SILENT;
        const again = tokenState.gate();
        return again.ok ? CONTINUE : closed(ctx, tokenState, again.reason);
      });
    },
    verify: (ctx) => authenticate(ctx),
    revocation(ctx, r): StageResult {
      if (r.kind !== 'continue' || tokenState === null || ctx.principal === null) return r;
      return tokenState.isRevoked(ctx.principal.facts) ? REVOKED : r;
    },
    ready,
    readiness(): IssuerReadiness {
      const out: IssuerReadiness = {};
      for (const name of Object.keys(current.issuers)) out[name] = { keys: jwt.issuerReady(name), introspection: introspection.ready(name) };
      return out;
    },
    waitingCount(): number {
      let waiting = 0;
      for (const name of Object.keys(current.issuers)) if (!issuerReady(name)) waiting++;
      return waiting;
    },
    prepare(next: Config): PreparedTokenCheck {
      const judged = withRevocableLifetimes(next, revocationLifetimeS);
      const intro = introspection.prepare(judged); // throws on an unset client secret variable
      const issuers = jwt.prepareIssuers(judged.issuers); // never throws
      const introspectors: Record<string, TokenIntrospector> = {};
      for (const [name, client] of intro.clients) introspectors[name] = client;
      // a request waiting on an unknown-kid refetch or an introspection call is answered 503 at its route's deadline, as on its outbound token
      const deadlinesMs = next.routes.map((route) => routeDeadlineMs(next, route));
      return { config: next, issuers, introspection: intro, authenticate: createAuthenticator({
        jwt, introspection: introspectors, deadlinesMs, trustedHops: next.server.trust_forwarded ? next.server.trusted_hops : 0,
      }) };
    },
    commit(p: PreparedTokenCheck): void {
      jwt.commitIssuers(p.issuers);
      introspection.commit(p.introspection);
      current = p.config;
      authenticate = p.authenticate;
      if (!opened) gating = new Set([...gating].filter((name) => name in p.config.issuers));
    },
    discard(p: PreparedTokenCheck): void {
      jwt.discardIssuers(p.issuers);
      introspection.discard(p.introspection);
    },
    stats(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(jwt.stats())) out[`jwt.${k}`] = v;
      for (const [k, v] of Object.entries(introspection.stats())) out[`introspection.${k}`] = v;
      return out;
    },
    dropSubject: (iss, sub) => introspection.dropSubject(iss, sub),
    start: () => jwt.start(),
    async close(): Promise<void> {
      unsubscribe();
      introspection.close();
      await jwt.close();
    },
  };
}
