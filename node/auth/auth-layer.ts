// Builds the token stages (extract → authenticate → authorize → mutate) for one config:
// the JWT verifier, one introspection client per issuer that has introspection, compiled
// route policies, and the revocation check the cluster supplies. A reload prepares the new
// state beside the running one and commits it in one synchronous swap (or discards it), so
// warm keys and caches survive unchanged issuers and a refused reload changes nothing.
import type { Config, IssuerConfig, RouteConfig } from '../config/index.js';
import type { IntrospectionSharing, ReplaySharing, TokenState } from '../contracts/index.js';
import { DpopStage, type PreparedDpop } from '../dpop/index.js';
import { proxyError } from '../errors.js';
import { withCallerHeaders } from '../s2s/s2s-config.js';
import type { AuthStages } from '../http/snapshot.js';
import { IntrospectionClient } from '../introspection/index.js';
import { JwtVerifier, type PreparedIssuers } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { discoverIntrospection } from './introspection-discovery.js';
import {
  authorize, compileIdentityFilter, compilePolicy, createAuthenticator, extract, mutate, stripsAuthorization,
  type Authenticate, type CompiledPolicy, type RequestContext, type StageResult, type TokenIntrospector,
} from '../pipeline/index.js';

export interface AuthLayerOptions {
  tokenState?: TokenState | null;
  sharing?: IntrospectionSharing | null;
  /** Cluster-wide DPoP proof replay check (node/dpop DpopReplaySync); none = this process's cache only. */
  dpopReplay?: ReplaySharing | null;
  /** Environment for `*_env` secrets; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A new config's auth state, built by AuthLayer.prepare and not yet in use: commit swaps it
 * in, discard releases what prepare created. Opaque to callers except for compilePolicy.
 */
export interface PreparedAuth {
  readonly config: Config;
  /** Compile a route's policy against the new config (identity headers of the new version). */
  compilePolicy(route: RouteConfig): CompiledPolicy | null;
}

export interface AuthLayer {
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
  /** Flat counters for /metrics and /cache/stats. */
  stats(): Record<string, number>;
  /** Per-issuer readiness for /readyz. */
  readiness(): IssuerReadiness;
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
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

const REVOKED: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'the token has been revoked')), reason: 'revoked',
});
const CATCHING_UP: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocations are being replayed', { retryAfter: 1 })), reason: 'revocations_catching_up',
});
const BUS_LOST: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation bus lost', { retryAfter: 5 })), reason: 'revocation_bus_lost',
});
const REVOCATIONS_INCOMPLETE: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation store full', { retryAfter: 30 })), reason: 'revocations_incomplete',
});

interface IntrospectionSlot {
  readonly config: string; // JSON of the issuer config, to keep clients of unchanged issuers
  readonly client: IntrospectionClient;
  /** Set on commit: leaves the cluster cache and stops discovery. */
  detach: () => void;
  stopDiscovery: () => void;
}

interface Prepared extends PreparedAuth {
  readonly dpop: PreparedDpop;
  readonly issuers: PreparedIssuers;
  readonly slots: ReadonlyMap<string, IntrospectionSlot>;
  /** Slots made for this config: attached and discovering on commit, closed on discard. */
  readonly createdSlots: readonly IntrospectionSlot[];
  readonly authenticate: Authenticate;
  readonly identityFilter: (lowerName: string) => boolean;
}

/** Create the auth layer for `config`; starts JWKS and discovery fetches at once. Throws on an unset secret variable. */
export function createAuthLayer(config: Config, logger: Logger, opts: AuthLayerOptions = {}): AuthLayer {
  const log = logger.child({ component: 'auth' });
  const env = opts.env ?? process.env;
  const tokenState = opts.tokenState ?? null;
  const sharing = opts.sharing ?? null;
  let current = config;
  const dpop = new DpopStage({ config, sharing: opts.dpopReplay ?? null, env, logger: log });
  const jwt = new JwtVerifier({
    issuers: {},
    poolSize: config.verifier.pool_size,
    cacheEntries: config.verifier.cache_entries,
    cacheBytes: config.verifier.cache_bytes,
    logger: log,
  });
  let slots: ReadonlyMap<string, IntrospectionSlot> = new Map();
  const retiredIntrospection = { calls_ok: 0, calls_failed: 0, calls_inactive: 0 };
  /**
   * Issuers whose readiness gates /readyz and every auth route: those of the config the layer
   * started with, until all of them are ready once (then `opened`: keys are never dropped, a
   * failing refresh keeps the last good set). An issuer a reload adds never gates: its own
   * routes answer 503 until its keys arrive, the others keep working.
   */
  let gating: ReadonlySet<string> = new Set(Object.keys(config.issuers));
  let opened = false;

  const buildSlot = (name: string, cfg: IssuerConfig, next: Config): IntrospectionSlot => {
    // an unchanged issuer URL keeps the endpoint discovery found (a changed cache TTL needs no new lookup)
    const old = slots.get(name);
    const oldCfg = old === undefined ? undefined : (JSON.parse(old.config) as IssuerConfig);
    const endpoint = oldCfg !== undefined && oldCfg.issuer === cfg.issuer && JSON.stringify(oldCfg.discovery) === JSON.stringify(cfg.discovery) ? old!.client.endpoint : null;
    const client = new IntrospectionClient({
      name, issuer: cfg, env, maxEntries: next.verifier.cache_entries, logger: log, endpoint,
      ...(sharing !== null ? { coordinate: sharing.coordinator(name), onResult: sharing.publisher(name) } : {}),
    });
    return { config: JSON.stringify(cfg), client, detach: () => {}, stopDiscovery: () => {} };
  };
  const startSlot = (name: string, s: IntrospectionSlot): void => {
    if (sharing !== null) s.detach = sharing.attach(name, s.client);
    if (s.client.endpoint === null) s.stopDiscovery = discoverIntrospection(name, JSON.parse(s.config) as IssuerConfig, s.client, log);
  };
  const retire = (s: IntrospectionSlot): void => {
    const st = s.client.stats();
    retiredIntrospection.calls_ok += st.calls_ok;
    retiredIntrospection.calls_failed += st.calls_failed;
    retiredIntrospection.calls_inactive += st.calls_inactive;
    s.detach();
    s.stopDiscovery();
    void s.client.close();
  };

  // both set by the first commit below, before any request can arrive
  let authenticate: Authenticate;
  let identityFilter: (lowerName: string) => boolean;

  const prepare = (next: Config): Prepared => {
    const preparedDpop = dpop.prepare(next); // throws on an unset or short nonce secret: nothing built yet
    const nextSlots = new Map<string, IntrospectionSlot>();
    const createdSlots: IntrospectionSlot[] = [];
    try {
      for (const [name, cfg] of Object.entries(next.issuers)) {
        if (cfg.introspection === undefined) continue;
        const old = slots.get(name);
        if (old !== undefined && old.config === JSON.stringify(cfg)) { nextSlots.set(name, old); continue; }
        const s = buildSlot(name, cfg, next); // throws on an unset client secret variable
        createdSlots.push(s);
        nextSlots.set(name, s);
      }
    } catch (err) {
      for (const s of createdSlots) void s.client.close();
      throw err;
    }
    const issuers = jwt.prepareIssuers(next.issuers); // never throws
    return {
      config: next, dpop: preparedDpop, issuers, slots: nextSlots, createdSlots,
      authenticate: createAuthenticator({ jwt, introspection: introspectorsOf(nextSlots) }),
      identityFilter: withCallerHeaders(compileIdentityFilter(next.identity, next.routes), next.routes),
      compilePolicy: (route) => compilePolicy(route, next.identity),
    };
  };
  const commit = (p: Prepared): void => {
    dpop.commit(p.dpop);
    jwt.commitIssuers(p.issuers);
    for (const [name, s] of p.slots) if (p.createdSlots.includes(s)) startSlot(name, s);
    for (const [name, s] of slots) if (p.slots.get(name) !== s) retire(s);
    slots = p.slots;
    current = p.config;
    authenticate = p.authenticate;
    identityFilter = p.identityFilter;
    if (!opened) gating = new Set([...gating].filter((name) => name in p.config.issuers));
  };
  const discard = (p: Prepared): void => {
    jwt.discardIssuers(p.issuers);
    for (const s of p.createdSlots) void s.client.close();
  };

  // the first config goes through the same two steps as every reload
  let first: Prepared;
  try {
    first = prepare(config);
  } catch (err) {
    dpop.close();
    void jwt.close();
    throw err;
  }
  commit(first);
  jwt.start();

  // a revoked token leaves every local cache at once (other kinds are refused by the per-request check)
  const unsubscribe = tokenState?.onRevoked((r) => {
    if (r.kind !== 'token') return;
    jwt.evict(r.value);
    for (const s of slots.values()) s.client.evict(r.value);
  }) ?? (() => {});

  const revocationCheck = (ctx: RequestContext, r: StageResult): StageResult => {
    if (r.kind !== 'continue' || tokenState === null || ctx.principal === null) return r;
    return tokenState.isRevoked(ctx.principal.facts) ? REVOKED : r;
  };

  /** Revocation, then the DPoP proof (RFC 9449), both after verification; any denial of a DPoP request gets the DPoP challenge. */
  const afterAuthenticate = (ctx: RequestContext, r: StageResult): StageResult | Promise<StageResult> => {
    const x = revocationCheck(ctx, r);
    if (x.kind !== 'continue') return dpop.challenge(ctx, x);
    return dpop.check(ctx);
  };

  /** An issuer with introspection is ready once its endpoint is known (its JWTs are introspected until its keys load); any other needs its keys. */
  const issuerReady = (name: string): boolean => {
    const intro = slots.get(name);
    return intro !== undefined ? intro.client.ready() : jwt.issuerReady(name);
  };

  /** O(1) once open: the listener asks on every request of an auth route. */
  const ready = (): boolean => {
    if (opened) return true;
    for (const name of gating) if (!issuerReady(name)) return false;
    opened = true;
    return true;
  };

  const stages: AuthStages = {
    extract: (ctx) => dpop.challenge(ctx, extract(ctx, (ctx.route.policy as CompiledPolicy).sources)),
    authenticate: (ctx) => {
      if (tokenState !== null) {
        const g = tokenState.gate();
        if (!g.ok) return g.reason === 'bus_lost' ? BUS_LOST : g.reason === 'revocations_incomplete' ? REVOCATIONS_INCOMPLETE : CATCHING_UP;
      }
      const r = authenticate(ctx);
      // checked after verification completes: a revocation that lands meanwhile still counts
      return r instanceof Promise ? r.then((x) => afterAuthenticate(ctx, x)) : afterAuthenticate(ctx, r);
    },
    authorize: (ctx) => dpop.challenge(ctx, authorize(ctx)),
    mutate: (ctx, out) => mutate(ctx, out),
    stripsAuthorization,
    isIdentityHeader: (k) => identityFilter(k),
    ready,
  };

  return {
    stages,
    compilePolicy: (route) => compilePolicy(route, current.identity),
    prepare,
    commit: (p) => commit(p as Prepared),
    discard: (p) => discard(p as Prepared),
    stats(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(jwt.stats())) out[`jwt.${k}`] = v;
      const intro = { ...retiredIntrospection, singleflight_waits: 0, calls_queue_full: 0, calls_late: 0, cache_hits: 0, cache_misses: 0, cache_entries: 0, cache_evictions: 0, latency_ms_sum: 0, latency_count: 0 };
      for (const s of slots.values()) {
        const st = s.client.stats();
        for (const k of Object.keys(intro) as (keyof typeof intro)[]) intro[k] += st[k];
      }
      for (const [k, v] of Object.entries(intro)) out[`introspection.${k}`] = v;
      for (const [k, v] of Object.entries(dpop.stats())) out[`dpop.${k}`] = v;
      let waiting = 0;
      for (const name of Object.keys(current.issuers)) if (!issuerReady(name)) waiting++;
      out.issuers_waiting = waiting;
      return out;
    },
    readiness(): IssuerReadiness {
      const out: IssuerReadiness = {};
      for (const name of Object.keys(current.issuers)) {
        const s = slots.get(name);
        out[name] = { keys: jwt.issuerReady(name), introspection: s === undefined ? null : s.client.ready() };
      }
      return out;
    },
    whenReady(timeoutMs: number): Promise<boolean> {
      if (ready()) return Promise.resolve(true);
      const until = Date.now() + timeoutMs;
      return new Promise((resolve) => {
        const tick = (): void => {
          if (ready()) resolve(true);
          else if (Date.now() >= until) resolve(false);
          else setTimeout(tick, 25).unref();
        };
        tick();
      });
    },
    async close(): Promise<void> {
      unsubscribe();
      dpop.close();
      for (const s of slots.values()) retire(s);
      slots = new Map();
      await jwt.close();
    },
  };
}

function introspectorsOf(slots: ReadonlyMap<string, IntrospectionSlot>): Record<string, TokenIntrospector> {
  const out: Record<string, TokenIntrospector> = {};
  for (const [name, s] of slots) out[name] = s.client;
  return out;
}
