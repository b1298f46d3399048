// The auth side of one config, composed: the token check (token-check.ts), the DPoP stage
// (node/dpop), compiled route policies and the identity-header filter, as the AuthStages the
// request pipeline runs. Reload prepares all of them beside the running ones and commits them in
// one synchronous swap (or discards them).
import { defaultRouteIssuers, type Config, type RouteConfig } from '../config/index.js';
import type { IntrospectionSharing, ReplaySharing, TokenState } from '../contracts/index.js';
import { DpopStage, type PreparedDpop } from '../dpop/index.js';
import type { AuthStages } from '../pipeline/snapshot.js';
import type { Logger } from '../log.js';
import { authorize, compileIdentityFilter, compilePolicy, CONTINUE, extract, mutate, stripsAuthorization, type CompiledPolicy, type RequestContext, type StageResult } from '../pipeline/index.js';
import { withCallerHeaders } from '../s2s/s2s-config.js';
import { cookieRequestAllowed, CROSS_ORIGIN } from './cookie-origin.js';
import { createTokenCheck, type IssuerReadiness, type PreparedTokenCheck } from './token-check.js';

export interface AuthOptions {
  tokenState?: TokenState | null;
  sharing?: IntrospectionSharing | null;
  /** Cluster-wide DPoP proof replay check; none = this process's cache only. */
  dpopReplay?: ReplaySharing | null;
  /** Environment for `*_env` secrets; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A new config's auth state, built by Auth.prepare and not yet in use: commit swaps it in,
 * discard releases what prepare created. Opaque to callers except for compilePolicy.
 */
export interface PreparedAuth {
  readonly config: Config;
  /** Compile a route's policy against the new config (identity headers of the new version). */
  compilePolicy(route: RouteConfig): CompiledPolicy | null;
}

export interface Auth {
  readonly stages: AuthStages;
  compilePolicy(route: RouteConfig): CompiledPolicy | null;
  /**
   * Reload, step 1: build everything `config` needs (DPoP settings, JWKS actors of new or
   * changed issuers, introspection clients) without touching the running state; nothing new
   * fetches yet. Throws, having changed nothing, when the config cannot be applied (an unset
   * secret variable); the message starts with the config path.
   */
  prepare(config: Config): PreparedAuth;
  /** Reload, step 2: swap to `p` (synchronous, never throws); new fetches start, retired clients close. */
  commit(p: PreparedAuth): void;
  /** A refused reload: release what prepare created. Safe to call once per prepare, never after commit. */
  discard(p: PreparedAuth): void;
  /** Flat counters for /metrics and /cache/stats (`jwt.*`, `introspection.*`, `dpop.*`, `issuers_waiting`). */
  stats(): Record<string, number>;
  /** Per-issuer readiness for /readyz. */
  readiness(): IssuerReadiness;
  /**
   * Drop this process's cached verdicts of `sub`'s tokens (of token issuer `iss` when not null) so
   * the next request is decided again: introspection outcomes. JWT verdicts stay: a JWT's claims
   * are in the token, deciding it again gives the same answer. Returns how many were dropped.
   */
  dropSubject(iss: string | null, sub: string): number;
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

interface Prepared extends PreparedAuth {
  readonly dpop: PreparedDpop;
  readonly tokens: PreparedTokenCheck;
  readonly identityFilter: (lowerName: string) => boolean;
}

/** Create the auth side for `config`; starts JWKS and discovery fetches at once. Throws on an unset secret variable. */
export function createAuth(config: Config, logger: Logger, opts: AuthOptions = {}): Auth {
  const log = logger.child({ component: 'auth' });
  const env = opts.env ?? process.env;
  let current = config;
  const dpop = new DpopStage({ config, sharing: opts.dpopReplay ?? null, env, logger: log });
  const tokens = createTokenCheck(config, log, { tokenState: opts.tokenState ?? null, sharing: opts.sharing ?? null, env });
  // set by the first commit below, before any request can arrive
  let identityFilter: (lowerName: string) => boolean;

  const prepare = (next: Config): Prepared => {
    const preparedDpop = dpop.prepare(next); // throws on an unset or short nonce secret: nothing built yet
    const preparedTokens = tokens.prepare(next); // throws, having built nothing, on an unset client secret
    return {
      config: next, dpop: preparedDpop, tokens: preparedTokens,
      identityFilter: withCallerHeaders(compileIdentityFilter(next.identity, next.routes), next.routes),
      compilePolicy: (route) => compilePolicy(route, next.identity, defaultRouteIssuers(next)),
    };
  };
  const commit = (p: Prepared): void => {
    dpop.commit(p.dpop);
    tokens.commit(p.tokens);
    current = p.config;
    identityFilter = p.identityFilter;
  };

  // the first config goes through the same two steps as every reload
  let first: Prepared;
  try {
    first = prepare(config);
  } catch (err) {
    dpop.close();
    void tokens.close();
    throw err;
  }
  commit(first);
  tokens.start();

  // a known-revoked token while gated: challenged as after verification (DPoP routes name DPoP); the 503s as they are
  const gated = (ctx: RequestContext, g: StageResult): StageResult => (g.kind === 'deny' && g.reason === 'revoked' ? dpop.challenge(ctx, g) : g);
  const stages: AuthStages = {
    ready: tokens.ready,
    extract: (ctx) => {
      const x = extract(ctx, (ctx.route.policy as CompiledPolicy).sources);
      // a cookie is the one credential another site's page makes the browser send (CSRF); other sources pay one compare
      if (ctx.tokenSource === 'cookie' && x.kind === 'continue' && !cookieRequestAllowed(ctx, current.server.trust_forwarded)) return dpop.challenge(ctx, CROSS_ORIGIN);
      return dpop.challenge(ctx, x);
    },
    gate: (ctx) => {
      const g = tokens.gate(ctx);
      if (g === null) return CONTINUE;
      return g instanceof Promise ? g.then((x) => gated(ctx, x)) : gated(ctx, g);
    },
    verify: (ctx) => tokens.verify(ctx),
    // revocation, then the DPoP proof (RFC 9449), both after verification completes: a revocation that lands meanwhile still counts
    afterVerify: (ctx, r) => {
      const x = tokens.revocation(ctx, r);
      if (x.kind !== 'continue') return dpop.challenge(ctx, x);
      return dpop.check(ctx);
    },
    authorize: (ctx) => dpop.challenge(ctx, authorize(ctx)),
    revocation: (ctx) => tokens.revocation(ctx, CONTINUE),
    mutate: (ctx, out) => mutate(ctx, out),
    stripsAuthorization,
    isIdentityHeader: (k) => identityFilter(k),
  };

  return {
    stages,
    compilePolicy: (route) => compilePolicy(route, current.identity, defaultRouteIssuers(current)),
    prepare,
    commit: (p) => commit(p as Prepared),
    discard: (p) => {
      tokens.discard((p as Prepared).tokens);
    },
    stats(): Record<string, number> {
      const out = tokens.stats();
      for (const [k, v] of Object.entries(dpop.stats())) out[`dpop.${k}`] = v;
      out.issuers_waiting = tokens.waitingCount();
      return out;
    },
    readiness: () => tokens.readiness(),
    dropSubject: (iss, sub) => tokens.dropSubject(iss, sub),
    whenReady(timeoutMs: number): Promise<boolean> {
      if (tokens.ready()) return Promise.resolve(true);
      const until = Date.now() + timeoutMs;
      return new Promise((resolve) => {
        const tick = (): void => {
          if (tokens.ready()) resolve(true);
          else if (Date.now() >= until) resolve(false);
          else setTimeout(tick, 25).unref();
        };
        tick();
      });
    },
    async close(): Promise<void> {
      dpop.close();
      await tokens.close();
    },
  };
}
