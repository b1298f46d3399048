// Builds the token stages (extract → authenticate → authorize → mutate) for one config:
// the JWT verifier, one introspection client per issuer that has introspection, compiled
// route policies, and the revocation check the cluster supplies. Reload reconfigures in
// place so warm keys and caches survive unchanged issuers.
import { Agent } from 'undici';
import type { Config, IssuerConfig, RouteConfig } from '../config/index.js';
import { DpopStage, type ReplaySharing } from '../dpop/index.js';
import { proxyError } from '../errors.js';
import { withCallerHeaders } from '../s2s/s2s-config.js';
import type { AuthStages } from '../http/snapshot.js';
import { IntrospectionClient, type IntrospectionResult } from '../introspection/index.js';
import { JwtVerifier } from '../jwt/index.js';
import { discoveryUrls, fetchJson } from '../jwt/jwks-fetch.js';
import type { Logger } from '../log.js';
import {
  authorize, compileIdentityFilter, compilePolicy, createAuthenticator, extract, mutate, stripsAuthorization,
  type CompiledPolicy, type RequestContext, type StageResult, type TokenFacts, type TokenIntrospector,
} from '../pipeline/index.js';

/** A revocation as the auth layer sees it (cluster/protocol's RevocationRecord fits). */
export interface RevokedEntry { readonly kind: string; readonly value: string }

/** What the cluster supplies: the revocation set and whether requests may be judged now. */
export interface TokenState {
  /** ok=false while revocations are being replayed or the bus is lost past fail_closed_after_ms. */
  gate(): { readonly ok: true } | { readonly ok: false; readonly reason: string };
  /** O(1), synchronous, allocation-free. */
  isRevoked(facts: TokenFacts): boolean;
  onRevoked(listener: (r: RevokedEntry) => void): () => void;
}

/** Cluster-wide introspection sharing (cluster/cache-sync): hooks per issuer. */
export interface IntrospectionSharing {
  coordinator(issuer: string): (tokenHash: string, call: () => Promise<IntrospectionResult>) => Promise<IntrospectionResult>;
  publisher(issuer: string): (tokenHash: string, result: IntrospectionResult) => void;
  attach(issuer: string, client: { prime(h: string, r: IntrospectionResult): boolean; evict(h: string): boolean }): () => void;
}

export interface AuthLayerOptions {
  tokenState?: TokenState | null;
  sharing?: IntrospectionSharing | null;
  /** Cluster-wide DPoP proof replay check (node/dpop DpopReplaySync); none = this process's cache only. */
  dpopReplay?: ReplaySharing | null;
  /** Environment for `*_env` secrets; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface AuthLayer {
  readonly stages: AuthStages;
  compilePolicy(route: RouteConfig): CompiledPolicy | null;
  /** Reconfigure for a new config version (hot reload); keeps warm state of unchanged issuers. */
  reconfigure(config: Config): void;
  /** Flat counters for /metrics and /cache/stats. */
  stats(): Record<string, number>;
  /** Per-issuer readiness for /readyz. */
  readiness(): Record<string, { keys: boolean; introspection: boolean | null }>;
  whenReady(timeoutMs: number): Promise<boolean>;
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
const REVOCATIONS_INCOMPLETE: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'revocation store full', { retryAfter: 30 })), reason: 'revocations_incomplete',
});

interface IntrospectionSlot {
  readonly config: string; // JSON of the issuer config, to keep clients of unchanged issuers
  readonly client: IntrospectionClient;
  readonly detach: () => void;
  readonly stopDiscovery: () => void;
}

/** Discovery backoff for the introspection endpoint: 0.5 s doubling to 30 s. */
const DISCOVERY_FIRST_MS = 500;
const DISCOVERY_MAX_MS = 30_000;

/**
 * Find `introspection_endpoint` in the issuer's metadata (RFC 8414) and hand it to the client;
 * retries with backoff until found or stopped. Returns the stop function.
 */
function discoverIntrospection(name: string, cfg: IssuerConfig, client: IntrospectionClient, logger: Logger): () => void {
  const abort = new AbortController();
  const agent = new Agent({ connections: 1 });
  let timer: NodeJS.Timeout | null = null;
  let delay = DISCOVERY_FIRST_MS;
  let closed = false;
  const closeAgent = (): void => { if (!closed) { closed = true; agent.close().catch(() => {}); } };
  const attempt = async (): Promise<void> => {
    const errors: string[] = [];
    for (const url of discoveryUrls(cfg.issuer, cfg.discovery === false ? true : cfg.discovery)) {
      const r = await fetchJson(url, { dispatcher: agent, timeoutMs: cfg.jwks.timeout_ms, signal: abort.signal });
      if (abort.signal.aborted) return;
      if (!r.ok) { errors.push(`${url}: ${r.message}`); continue; }
      const doc = r.body as { issuer?: unknown; introspection_endpoint?: unknown } | null;
      if (doc?.issuer !== cfg.issuer) { errors.push(`${url}: issuer does not match`); continue; }
      if (typeof doc.introspection_endpoint !== 'string' || !/^https?:\/\//i.test(doc.introspection_endpoint)) { errors.push(`${url}: no introspection_endpoint`); continue; }
      client.setEndpoint(doc.introspection_endpoint);
      logger.info({ issuer: name }, 'introspection endpoint discovered');
      closeAgent();
      return;
    }
    logger.warn({ issuer: name, errors, retry_ms: delay }, 'introspection endpoint discovery failed');
    timer = setTimeout(() => { timer = null; void attempt(); }, delay);
    timer.unref();
    delay = Math.min(delay * 2, DISCOVERY_MAX_MS);
  };
  void attempt();
  return () => { abort.abort(); if (timer !== null) clearTimeout(timer); closeAgent(); };
}

/** Create the auth layer for `config`; starts JWKS and discovery fetches at once. */
export function createAuthLayer(config: Config, logger: Logger, opts: AuthLayerOptions = {}): AuthLayer {
  const log = logger.child({ component: 'auth' });
  const env = opts.env ?? process.env;
  const tokenState = opts.tokenState ?? null;
  const sharing = opts.sharing ?? null;
  let current = config;
  // first: it throws on an unset dpop.nonce.secret_env before anything starts
  const dpop = new DpopStage({ config, sharing: opts.dpopReplay ?? null, env, logger: log });
  const jwt = new JwtVerifier({
    issuers: config.issuers,
    poolSize: config.verifier.pool_size,
    cacheEntries: config.verifier.cache_entries,
    cacheBytes: config.verifier.cache_bytes,
    logger: log,
  });
  jwt.start();
  let slots = new Map<string, IntrospectionSlot>();
  const retiredIntrospection = { calls_ok: 0, calls_failed: 0, calls_inactive: 0 };

  const buildSlot = (name: string, cfg: IssuerConfig): IntrospectionSlot => {
    const client = new IntrospectionClient({
      name, issuer: cfg, env, maxEntries: current.verifier.cache_entries, logger: log,
      ...(sharing !== null ? { coordinate: sharing.coordinator(name), onResult: sharing.publisher(name) } : {}),
    });
    const detach = sharing !== null ? sharing.attach(name, client) : () => {};
    const stopDiscovery = cfg.introspection?.endpoint === undefined ? discoverIntrospection(name, cfg, client, log) : () => {};
    return { config: JSON.stringify(cfg), client, detach, stopDiscovery };
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
  const syncIntrospection = (issuers: Config['issuers']): void => {
    const next = new Map<string, IntrospectionSlot>();
    for (const [name, cfg] of Object.entries(issuers)) {
      if (cfg.introspection === undefined) continue;
      const old = slots.get(name);
      next.set(name, old !== undefined && old.config === JSON.stringify(cfg) ? old : buildSlot(name, cfg));
    }
    for (const [name, s] of slots) if (next.get(name) !== s) retire(s);
    slots = next;
  };
  syncIntrospection(config.issuers);

  // authenticate is rebuilt when the set of introspection clients changes
  let authenticate = createAuthenticator({ jwt, introspection: introspectorsOf(slots) });
  let identityFilter = withCallerHeaders(compileIdentityFilter(config.identity, config.routes), config.routes);

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

  const ready = (): boolean => {
    for (const name of Object.keys(current.issuers)) {
      const intro = slots.get(name);
      if (intro !== undefined && !intro.client.ready()) return false;
      // an issuer with introspection is ready once its endpoint is known (its JWTs are
      // introspected until its keys load: authenticate); any other needs its keys
      if (intro === undefined && !jwt.issuerReady(name)) return false;
    }
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
    reconfigure(next: Config): void {
      dpop.reconfigure(next); // first: throws (nothing changed) on an unset nonce secret variable
      jwt.reconfigure(next.issuers);
      current = next;
      syncIntrospection(next.issuers);
      authenticate = createAuthenticator({ jwt, introspection: introspectorsOf(slots) });
      identityFilter = withCallerHeaders(compileIdentityFilter(next.identity, next.routes), next.routes);
    },
    stats(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(jwt.stats())) out[`jwt.${k}`] = v;
      const intro = { ...retiredIntrospection, singleflight_waits: 0, cache_hits: 0, cache_misses: 0, cache_entries: 0, cache_evictions: 0, latency_ms_sum: 0, latency_count: 0 };
      for (const s of slots.values()) {
        const st = s.client.stats();
        for (const k of Object.keys(intro) as (keyof typeof intro)[]) intro[k] += st[k];
      }
      for (const [k, v] of Object.entries(intro)) out[`introspection.${k}`] = v;
      for (const [k, v] of Object.entries(dpop.stats())) out[`dpop.${k}`] = v;
      return out;
    },
    readiness() {
      const out: Record<string, { keys: boolean; introspection: boolean | null }> = {};
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
