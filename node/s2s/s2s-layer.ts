// The service-to-service layer of one instance: the internal-token issuer (key ring,
// signer, minter, well-known documents), one token exchanger per issuer with
// token_exchange, and the client-credentials sources of egress routes. Compiles each
// route's outbound step for the snapshot; drops tokens bound to a revoked inbound token.
import cluster from 'node:cluster';
import type { KeyObject } from 'node:crypto';
import type { Agent } from 'undici';
import { routeDeadlineMs, type Config, type InternalTokensConfig, type RouteConfig } from '../config/index.js';
import type { TokenFacts } from '../contracts/index.js';
import { proxyError } from '../errors.js';
import type { OutboundStep, WellKnownDoc } from '../pipeline/snapshot.js';
import type { Logger } from '../log.js';
import { ClientCredentialsSource, ccKey } from './client-credentials.js';
import type { Deny } from './grant-cache.js';
import { InternalMinter, introspectionRecheckS } from './internal-minter.js';
import { withDeadline } from './outbound-deadline.js';
import { KeyRing, generateKeyAsync, generateKeySync, loadOrCreateKeyFile, type InternalAlg } from './key-ring.js';
import { EndpointDirectory, tokenAgent } from './token-endpoint.js';
import { TokenExchanger } from './token-exchanger.js';
import { InlineSigner, ThreadSigner, type TokenSigner } from './token-signer.js';
import { wellKnownDocs } from './well-known.js';
import { dropRevokedKeys, revokeOutbound } from './own-revocations.js';
import { RETIRED_READ_MS, RetiredCounters, afterMs } from '../retired-counters.js';

/** The part of the auth layer's TokenState this layer needs. */
export interface RevocationFeed {
  onRevoked(listener: (r: { readonly kind: string; readonly value: string; readonly issuer?: string | null }) => void): () => void;
  /** Does any revocation refuse a token with these facts (the per-request check's answer)? */
  isRevoked?(facts: TokenFacts): boolean;
}

export interface S2sOptions {
  logger: Logger;
  /** Revocations: kind `token` (SHA-256 hex) drops the outbound tokens bound to that inbound token. */
  revocations?: RevocationFeed | null;
  env?: Readonly<Record<string, string | undefined>>;
  /** Worker entry for the signing thread (tests); default the compiled sign.worker.js. */
  signWorker?: string;
}

const NO_PRINCIPAL: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'internal_token_failed',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'no verified token to derive an outbound token from', { retryAfter: 1 })),
});
const NO_EXCHANGE: Deny = Object.freeze({
  kind: 'deny' as const, reason: 'exchange_failed',
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'the token\'s issuer has no token_exchange configured', { retryAfter: 1 })),
});

interface Issuing {
  readonly cfg: InternalTokensConfig;
  readonly ring: KeyRing;
  readonly signer: TokenSigner;
  readonly minter: InternalMinter;
  /** Built on commit for a reconfigured issuer: the documents read the ring's alg and times. */
  wellKnown: (path: string) => WellKnownDoc | null;
  rotation: NodeJS.Timeout | null;
}

/** The internal-token issuer a new config gets; `apply` changes the running ring and minter (commit only). */
interface PreparedIssuing {
  readonly next: Issuing | null;
  readonly apply: () => void;
}

/** What S2sLayer.prepare built for a new config: applied by commit, released by discard. */
export interface PreparedS2s {
  readonly exchangers: ReadonlyMap<string, TokenExchanger>;
  readonly issuing: PreparedIssuing;
  readonly sources: ReadonlyMap<string, ClientCredentialsSource>;
  /** One outbound step per route (by index), null for routes without one. */
  readonly steps: Array<OutboundStep | null>;
  /** The snapshot's well-known lookup; null without internal_tokens. */
  readonly wellKnown: ((path: string) => WellKnownDoc | null) | null;
  readonly release: () => void;
}

/** An error naming the config field it is about (`err.path`), for the reload answer. */
function pathError(path: string, message: string): Error & { path: string } {
  const m = message.startsWith(path) ? message.slice(path.length).replace(/^[\s:]+/, '') : message;
  return Object.assign(new Error(`${path}: ${m}`), { path });
}

/** The audience of tokens for a route's upstream: `upstreams.<name>.audience`, else the upstream's name. */
export function upstreamAudience(config: Config, route: RouteConfig): string {
  return config.upstreams[route.upstream]?.audience ?? route.upstream;
}

/** Keys of the exchangers', sources' and signer's stats that are levels, not counts: a reload does not carry them over. */
export const S2S_GAUGES: ReadonlySet<string> = new Set(['cache_tokens', 'sign_queue']);

export class S2sLayer {
  readonly #log: Logger;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #signWorker: string | undefined;
  // made on first use: undici, the slowest package to load, waits for a config that calls a token endpoint
  #agent: Agent | null = null;
  #directory: EndpointDirectory | null = null;
  get #dispatcher(): Agent { return this.#agent ??= tokenAgent(); }
  get #endpoints(): EndpointDirectory { return this.#directory ??= new EndpointDirectory(this.#dispatcher); }
  #issuing: Issuing | null = null;
  #exchangers: ReadonlyMap<string, TokenExchanger> = new Map();
  #sources: ReadonlyMap<string, ClientCredentialsSource> = new Map();
  readonly #unsubscribe: () => void;
  #committed: PreparedS2s | null = null;
  #isRevoked: ((f: TokenFacts) => boolean) | null = null;
  #closed = false;
  /** The counters of exchangers, sources and signers a reload replaced or removed: the sums never go down. */
  readonly #retired = { token_exchange: new RetiredCounters<Record<string, number>>(S2S_GAUGES), client_credentials: new RetiredCounters<Record<string, number>>(S2S_GAUGES), internal_tokens: new RetiredCounters<Record<string, number>>(S2S_GAUGES) };

  /** Throws on a key file that cannot be read or created, or an unset secret variable. */
  constructor(config: Config, opts: S2sOptions) {
    this.#log = opts.logger.child({ component: 's2s' });
    this.#env = opts.env ?? process.env;
    this.#signWorker = opts.signWorker;
    const feed = opts.revocations ?? null;
    const isRevoked = feed?.isRevoked === undefined ? null : (f: TokenFacts): boolean => feed.isRevoked!(f);
    this.#isRevoked = isRevoked;
    this.commit(this.prepare(config));
    this.#unsubscribe = feed?.onRevoked((r) => {
      // a revocation naming an outbound token itself (seen in an upstream's log): before, the caches kept attaching it until its exp
      revokeOutbound(r, { issuing: this.#issuing, exchangers: this.#exchangers.values(), sources: this.#sources.values() }, isRevoked, this.#log);
      if (r.kind !== 'token') return; // other kinds: the per-request check refuses the inbound token before any outbound step
      this.#issuing?.minter.revoke(r.value);
      for (const x of this.#exchangers.values()) x.revoke(r.value);
    }) ?? (() => {});
  }

  /**
   * Reload, step 1: everything `config` needs — token exchangers, the internal-token key
   * (file read, or generated), signer, client-credentials sources and each route's outbound
   * step — built beside the running state, which stays untouched. Throws, having changed
   * nothing, when the config cannot be applied; the error's `path` names the config field.
   */
  prepare(config: Config): PreparedS2s {
    const created: Array<() => void> = [];
    try {
      const exchangers = new Map<string, TokenExchanger>();
      for (const [name, iss] of Object.entries(config.issuers)) {
        if (iss.token_exchange === undefined) continue;
        const old = this.#exchangers.get(name);
        exchangers.set(name, old !== undefined && old.sameAs(iss) ? old : new TokenExchanger(name, iss, this.#env, this.#endpoints, this.#dispatcher, this.#log));
      }
      const issuing = this.#prepareIssuing(config, created);
      const sources = new Map<string, ClientCredentialsSource>();
      const minter = issuing.next?.minter ?? null;
      // every wait for an outbound token ends at the route's deadline (outbound-deadline.ts)
      const steps = config.routes.map((route, i) => {
        const step = this.#compile(config, route, i, sources, minter, exchangers);
        return step === null ? null : withDeadline(step, routeDeadlineMs(config, route));
      });
      return { exchangers, issuing, sources, steps, wellKnown: issuing.next === null ? null : this.#wellKnown, release: () => { for (const r of created) r(); } };
    } catch (err) {
      for (const r of created) r();
      throw err;
    }
  }

  /** Reload, step 2: swap to `p` (synchronous, never throws). */
  commit(p: PreparedS2s): void {
    const cur = this.#issuing;
    p.issuing.apply();
    const next = p.issuing.next;
    if (cur !== null && cur !== next) {
      // the replaced issuer object: its rotation stops; its signer retires unless the next one keeps it
      // (signs what it was already asked, then closes: closing answered those mints 503)
      if (cur.rotation !== null) clearInterval(cur.rotation);
      if (next?.signer !== cur.signer) { cur.signer.retire(); this.#retired.internal_tokens.retire(cur.signer, afterMs(RETIRED_READ_MS)); }
      if (next?.minter !== cur.minter) this.#retired.internal_tokens.retire(cur.minter, afterMs(RETIRED_READ_MS)); // internal_tokens removed
    }
    for (const [name, x] of this.#exchangers) if (p.exchangers.get(name) !== x) this.#retired.token_exchange.retire(x, afterMs(RETIRED_READ_MS));
    for (const [key, src] of this.#sources) if (p.sources.get(key) !== src) this.#retired.client_credentials.retire(src, afterMs(RETIRED_READ_MS));
    this.#issuing = next;
    if (next !== null) { this.#startRotation(next); dropRevokedKeys(next, this.#isRevoked, this.#log); }
    this.#exchangers = p.exchangers;
    this.#sources = p.sources;
    this.#committed = p;
  }

  /** The committed config's outbound steps and well-known lookup (what the running snapshot uses). */
  get committed(): PreparedS2s {
    return this.#committed!;
  }

  /** A refused reload: release what prepare created (a signing thread). */
  discard(p: PreparedS2s): void {
    p.release();
  }

  /** prepare + commit in one step; throws (changing nothing) when the config cannot be applied. */
  reconfigure(config: Config): void {
    this.commit(this.prepare(config));
  }

  /** The well-known lookup a snapshot uses while internal tokens are on: always the committed issuer's documents. */
  readonly #wellKnown = (path: string): WellKnownDoc | null => this.#issuing?.wellKnown(path) ?? null;

  #compile(config: Config, route: RouteConfig, i: number, sources: Map<string, ClientCredentialsSource>, minter: InternalMinter | null, exchangers: ReadonlyMap<string, TokenExchanger>): OutboundStep | null {
    const audience = upstreamAudience(config, route);
    const cc = route.client_credentials ?? config.upstreams[route.upstream]?.client_credentials;
    if (cc !== undefined) {
      const aud = cc.audience ?? audience;
      const key = ccKey(config, cc, aud);
      let src = sources.get(key) ?? this.#sources.get(key);
      if (src === undefined) {
        const where = route.client_credentials !== undefined ? `routes[${i}].client_credentials` : `upstreams.${route.upstream}.client_credentials`;
        src = new ClientCredentialsSource(key, config, cc, aud, this.#env, this.#endpoints, this.#dispatcher, this.#log, where);
      }
      sources.set(key, src);
      const s = src;
      // the upstream's name: a refusal drops the shared token for that upstream only (client-credentials.ts)
      const up = route.upstream;
      return { authorization: () => s.authorization(up), refused: (_ctx, a, retrying) => s.refused(a, retrying, up), callerHeader: route.forward.caller_authorization?.toLowerCase() ?? null };
    }
    switch (route.forward.token) {
      case 'keep':
        return null;
      case 'internal': {
        if (minter === null) throw pathError(`routes[${i}].forward.token`, '"internal" requires internal_tokens');
        const refused = (): boolean => {
          if (minter.refused()) this.#log.warn({ audience, reason: 'upstream_invalid_token' }, 'upstream refused an internal token (invalid_token): kept — a new one would carry the same key and claims; check the upstream trusts this proxy\'s JWKS');
          return false;
        };
        return { authorization: (ctx) => (ctx.principal === null ? NO_PRINCIPAL : minter.authorization(ctx.principal, audience)), refused, callerHeader: null };
      }
      case 'exchange': {
        return {
          authorization: (ctx) => {
            const x = ctx.principal === null ? undefined : exchangers.get(ctx.principal.issuer);
            return x === undefined ? NO_EXCHANGE : x.authorization(ctx, audience);
          },
          refused: (ctx, a, retrying) => (ctx.principal === null ? false : exchangers.get(ctx.principal.issuer)?.refused(ctx, audience, a, retrying) ?? false),
          callerHeader: null,
        };
      }
      default: {
        const never: never = route.forward.token;
        throw new Error(`unknown forward.token ${String(never)}`);
      }
    }
  }

  /**
   * The internal-token issuer of `config`: its key read or generated and its signer made now
   * (undone through `created` when the reload is refused); the running ring and minter change
   * only in `apply`, on commit.
   */
  #prepareIssuing(config: Config, created: Array<() => void>): PreparedIssuing {
    const cfg = config.internal_tokens;
    const cur = this.#issuing;
    if (cfg === undefined) return { next: null, apply: () => {} };
    if (cfg.key_file === undefined && cluster.isWorker) {
      throw pathError('internal_tokens.key_file', 'required with more than one worker: every worker must sign with, and publish, the same keys');
    }
    let key: { key: KeyObject; created: boolean } | null = null;
    if (cfg.key_file !== undefined) {
      try {
        key = loadOrCreateKeyFile(cfg.key_file, cfg.alg);
      } catch (err) {
        throw pathError('internal_tokens.key_file', String((err as Error).message ?? err));
      }
    }
    const clusteredInMemory = cfg.key_file === undefined && config.cluster?.nats !== undefined;
    const logNew = (): void => {
      if (key?.created) this.#log.info({ key_file: cfg.key_file }, 'internal token key file created');
      // allowed (one instance on a bus is a cluster of one), but with several each publishes only its own key
      if (clusteredInMemory) this.#log.warn('internal_tokens: signing key generated in memory while clustered: every instance publishes only its own key, so an upstream must fetch the JWKS from the instance that signed; give every instance the same internal_tokens.key_file');
    };
    if (cur === null) {
      const ring = new KeyRing({ alg: cfg.alg, maxTtlS: cfg.max_ttl_s, publishAheadS: cfg.publish_ahead_s });
      ring.install(key?.key ?? generateKeySync(cfg.alg), cfg.alg);
      const signer = this.#newSigner(cfg);
      created.push(() => { void signer.close(); });
      const minter = new InternalMinter(cfg, ring, signer, this.#isRevoked);
      minter.setRecheck(introspectionRecheckS(config));
      const next = this.#issuingFor(cfg, ring, signer, minter);
      return { next, apply: logNew };
    }
    // a new key file, another alg, or a switch to generated keys: publish the new key first, sign with it later
    const generatedBefore = cur.cfg.key_file === undefined;
    const install = key !== null ? key.key : !generatedBefore || cur.cfg.alg !== cfg.alg ? generateKeySync(cfg.alg) : null;
    const signer = cur.cfg.signing === cfg.signing ? cur.signer : this.#newSigner(cfg);
    if (signer !== cur.signer) created.push(() => { void signer.close(); });
    const ring = cur.ring;
    const minter = cur.minter;
    const recheck = introspectionRecheckS(config);
    // the documents are built on apply: they read the ring's alg and publish-ahead time
    const next: Issuing = { cfg, ring, signer, minter, wellKnown: () => null, rotation: null };
    return {
      next,
      apply: () => {
        if (key?.created) this.#log.info({ key_file: cfg.key_file }, 'internal token key file created');
        ring.setTimes(cfg.max_ttl_s, cfg.publish_ahead_s);
        if (install !== null) ring.install(install, cfg.alg);
        minter.configure(cfg);
        minter.setRecheck(recheck);
        minter.setSigner(signer);
        next.wellKnown = wellKnownDocs(cfg, ring);
      },
    };
  }

  #issuingFor(cfg: InternalTokensConfig, ring: KeyRing, signer: TokenSigner, minter: InternalMinter): Issuing {
    return { cfg, ring, signer, minter, wellKnown: wellKnownDocs(cfg, ring), rotation: null };
  }

  /** Generated keys with rotate_after_s: a new key every period while `issuing` is the committed one. */
  #startRotation(issuing: Issuing): void {
    const cfg = issuing.cfg;
    if (cfg.rotate_after_s === undefined || cfg.key_file !== undefined || issuing.rotation !== null) return;
    const alg: InternalAlg = cfg.alg;
    const ring = issuing.ring;
    issuing.rotation = setInterval(() => {
      generateKeyAsync(alg).then((k) => {
        if (this.#closed || this.#issuing !== issuing) return;
        const entry = ring.install(k, alg);
        if (entry === null) return; // a revoked kid: a fresh random key never is one
        this.#log.info({ kid: entry.kid, signs_from: new Date(entry.signFrom).toISOString() }, 'internal token key rotated: new key published');
      }, (err: unknown) => this.#log.error({ err: String(err) }, 'internal token key generation failed'));
    }, cfg.rotate_after_s * 1000);
    issuing.rotation.unref();
  }

  #newSigner(cfg: InternalTokensConfig): TokenSigner {
    return cfg.signing === 'inline' ? new InlineSigner() : new ThreadSigner(this.#signWorker !== undefined ? { filename: this.#signWorker } : {});
  }


  /** Flat counters for /metrics and /cache/stats (`internal_tokens.*`, `token_exchange.*`, `client_credentials.*`), with those of replaced parts. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    const i = this.#issuing;
    const issuing: Record<string, number> = i === null ? {} : { ...i.minter.stats(), ...i.signer.stats() };
    this.#retired.internal_tokens.addTo(issuing);
    for (const [k, v] of Object.entries(issuing)) out[`internal_tokens.${k}`] = v;
    if (i !== null) {
      out['internal_tokens.keys_published'] = i.ring.published().length;
      out['internal_tokens.key_rotations'] = i.ring.rotations;
    }
    const exchange: Record<string, number> = {};
    for (const x of this.#exchangers.values()) for (const [k, v] of Object.entries(x.stats())) exchange[k] = (exchange[k] ?? 0) + v;
    this.#retired.token_exchange.addTo(exchange);
    for (const [k, v] of Object.entries(exchange)) out[`token_exchange.${k}`] = v;
    const cc: Record<string, number> = this.#sources.size > 0 ? { sources: this.#sources.size } : {};
    for (const s of this.#sources.values()) for (const [k, v] of Object.entries(s.stats())) cc[k] = (cc[k] ?? 0) + v;
    this.#retired.client_credentials.addTo(cc);
    for (const [k, v] of Object.entries(cc)) out[`client_credentials.${k}`] = v;
    if (this.#exchangers.size > 0 || this.#sources.size > 0) {
      for (const [k, v] of Object.entries(this.#endpoints.stats())) out[`token_endpoint.${k}`] = v;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    if (this.#issuing !== null) {
      if (this.#issuing.rotation !== null) clearInterval(this.#issuing.rotation);
      await this.#issuing.signer.close();
    }
    this.#directory?.close();
    await this.#agent?.destroy().catch(() => {});
  }
}
