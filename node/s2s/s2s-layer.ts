// The service-to-service layer of one instance: the internal-token issuer (key ring,
// signer, minter, well-known documents), one token exchanger per issuer with
// token_exchange, and the client-credentials sources of egress routes. Compiles each
// route's outbound step for the snapshot; drops tokens bound to a revoked inbound token.
import cluster from 'node:cluster';
import type { Agent } from 'undici';
import type { Config, InternalTokensConfig, RouteConfig } from '../config/index.js';
import { proxyError } from '../errors.js';
import type { OutboundStep, WellKnownDoc } from '../http/snapshot.js';
import type { Logger } from '../log.js';
import { ClientCredentialsSource, ccKey } from './client-credentials.js';
import type { Deny } from './grant-cache.js';
import { InternalMinter } from './internal-minter.js';
import { KeyRing, generateKeyAsync, generateKeySync, loadOrCreateKeyFile, type InternalAlg } from './key-ring.js';
import { EndpointDirectory, tokenAgent } from './token-endpoint.js';
import { TokenExchanger } from './token-exchanger.js';
import { InlineSigner, ThreadSigner, type TokenSigner } from './token-signer.js';
import { wellKnownDocs } from './well-known.js';

/** The part of the auth layer's TokenState this layer needs. */
export interface RevocationFeed {
  onRevoked(listener: (r: { readonly kind: string; readonly value: string }) => void): () => void;
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
  readonly wellKnown: (path: string) => WellKnownDoc | null;
  rotation: NodeJS.Timeout | null;
}

/** The audience of tokens for a route's upstream: `upstreams.<name>.audience`, else the upstream's name. */
export function upstreamAudience(config: Config, route: RouteConfig): string {
  return config.upstreams[route.upstream]?.audience ?? route.upstream;
}

export class S2sLayer {
  readonly #log: Logger;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #signWorker: string | undefined;
  readonly #dispatcher: Agent = tokenAgent();
  readonly #endpoints = new EndpointDirectory(this.#dispatcher);
  #issuing: Issuing | null = null;
  #exchangers = new Map<string, TokenExchanger>();
  #sources = new Map<string, ClientCredentialsSource>();
  readonly #unsubscribe: () => void;
  #closed = false;

  /** Throws on a key file that cannot be read or created, or an unset secret variable. */
  constructor(config: Config, opts: S2sOptions) {
    this.#log = opts.logger.child({ component: 's2s' });
    this.#env = opts.env ?? process.env;
    this.#signWorker = opts.signWorker;
    this.reconfigure(config);
    this.#unsubscribe = opts.revocations?.onRevoked((r) => {
      if (r.kind !== 'token') return; // other kinds: the per-request check refuses the inbound token before any outbound step
      this.#issuing?.minter.revoke(r.value);
      for (const x of this.#exchangers.values()) x.revoke(r.value);
    }) ?? (() => {});
  }

  /** Apply a config version; throws (changing nothing) when it cannot. Client-credentials sources follow at compileRoutes. */
  reconfigure(config: Config): void {
    const exchangers = new Map<string, TokenExchanger>();
    for (const [name, iss] of Object.entries(config.issuers)) {
      if (iss.token_exchange === undefined) continue;
      const old = this.#exchangers.get(name);
      exchangers.set(name, old !== undefined && old.sameAs(iss) ? old : new TokenExchanger(name, iss, this.#env, this.#endpoints, this.#dispatcher, this.#log));
    }
    const issuing = this.#applyIssuing(config.internal_tokens);
    if (issuing !== null && issuing !== this.#issuing && config.internal_tokens?.key_file === undefined && config.cluster?.nats !== undefined) {
      // allowed (one instance on a bus is a cluster of one), but with several each publishes only its own key
      this.#log.warn('internal_tokens: signing key generated in memory while clustered: every instance publishes only its own key, so an upstream must fetch the JWKS from the instance that signed; give every instance the same internal_tokens.key_file');
    }
    this.#issuing = issuing;
    this.#exchangers = exchangers;
  }

  /** One outbound step per route (by index); builds the client-credentials sources, keeping cached tokens of unchanged ones. */
  compileRoutes(config: Config): Array<OutboundStep | null> {
    const sources = new Map<string, ClientCredentialsSource>();
    const steps = config.routes.map((route, i) => this.#compile(config, route, i, sources));
    this.#sources = sources;
    return steps;
  }

  /** The well-known lookup for the snapshot; null without internal_tokens. */
  wellKnown(): ((path: string) => WellKnownDoc | null) | null {
    return this.#issuing?.wellKnown ?? null;
  }

  #compile(config: Config, route: RouteConfig, i: number, sources: Map<string, ClientCredentialsSource>): OutboundStep | null {
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
      return { authorization: () => s.authorization(), callerHeader: route.forward.caller_authorization?.toLowerCase() ?? null };
    }
    switch (route.forward.token) {
      case 'keep':
        return null;
      case 'internal': {
        const minter = this.#issuing?.minter;
        if (minter === undefined) throw new Error(`routes[${i}].forward.token: "internal" requires internal_tokens`);
        return { authorization: (ctx) => (ctx.principal === null ? NO_PRINCIPAL : minter.authorization(ctx.principal, audience)), callerHeader: null };
      }
      case 'exchange': {
        const exchangers = this.#exchangers;
        return {
          authorization: (ctx) => {
            const x = ctx.principal === null ? undefined : exchangers.get(ctx.principal.issuer);
            return x === undefined ? NO_EXCHANGE : x.authorization(ctx, audience);
          },
          callerHeader: null,
        };
      }
      default: {
        const never: never = route.forward.token;
        throw new Error(`unknown forward.token ${String(never)}`);
      }
    }
  }

  #applyIssuing(cfg: InternalTokensConfig | undefined): Issuing | null {
    const cur = this.#issuing;
    if (cfg === undefined) {
      if (cur !== null) this.#retire(cur);
      return null;
    }
    if (cfg.key_file === undefined && cluster.isWorker) {
      throw new Error('internal_tokens.key_file is required with more than one worker: every worker must sign with, and publish, the same keys');
    }
    const key = cfg.key_file !== undefined ? loadOrCreateKeyFile(cfg.key_file, cfg.alg) : null;
    if (key?.created) this.#log.info({ key_file: cfg.key_file }, 'internal token key file created');
    if (cur === null) {
      const ring = new KeyRing({ alg: cfg.alg, maxTtlS: cfg.max_ttl_s, publishAheadS: cfg.publish_ahead_s });
      ring.install(key?.key ?? generateKeySync(cfg.alg), cfg.alg);
      return this.#issuingFor(cfg, ring, this.#newSigner(cfg));
    }
    const ring = cur.ring;
    ring.setTimes(cfg.max_ttl_s, cfg.publish_ahead_s);
    // a new key file, another alg, or a switch to generated keys: publish the new key first, sign with it later
    const generatedBefore = cur.cfg.key_file === undefined;
    if (key !== null) ring.install(key.key, cfg.alg);
    else if (!generatedBefore || cur.cfg.alg !== cfg.alg) ring.install(generateKeySync(cfg.alg), cfg.alg);
    const signer = cur.cfg.signing === cfg.signing ? cur.signer : this.#newSigner(cfg);
    if (signer !== cur.signer) void cur.signer.close();
    if (cur.rotation !== null) clearInterval(cur.rotation);
    cur.minter.configure(cfg);
    return this.#issuingFor(cfg, ring, signer, cur.minter);
  }

  #issuingFor(cfg: InternalTokensConfig, ring: KeyRing, signer: TokenSigner, minter?: InternalMinter): Issuing {
    const m = minter ?? new InternalMinter(cfg, ring, signer);
    if (minter !== undefined) m.setSigner(signer);
    const issuing: Issuing = { cfg, ring, signer, minter: m, wellKnown: wellKnownDocs(cfg, ring), rotation: null };
    if (cfg.rotate_after_s !== undefined && cfg.key_file === undefined) {
      const alg: InternalAlg = cfg.alg;
      issuing.rotation = setInterval(() => {
        generateKeyAsync(alg).then((k) => {
          if (this.#closed || this.#issuing !== issuing) return;
          const entry = ring.install(k, alg);
          this.#log.info({ kid: entry.kid, signs_from: new Date(entry.signFrom).toISOString() }, 'internal token key rotated: new key published');
        }, (err: unknown) => this.#log.error({ err: String(err) }, 'internal token key generation failed'));
      }, cfg.rotate_after_s * 1000);
      issuing.rotation.unref();
    }
    return issuing;
  }

  #newSigner(cfg: InternalTokensConfig): TokenSigner {
    return cfg.signing === 'inline' ? new InlineSigner() : new ThreadSigner(this.#signWorker !== undefined ? { filename: this.#signWorker } : {});
  }

  #retire(i: Issuing): void {
    if (i.rotation !== null) clearInterval(i.rotation);
    void i.signer.close();
  }

  /** Flat counters for /metrics and /cache/stats (`internal_tokens.*`, `token_exchange.*`, `client_credentials.*`). */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    const i = this.#issuing;
    if (i !== null) {
      for (const [k, v] of Object.entries(i.minter.stats())) out[`internal_tokens.${k}`] = v;
      for (const [k, v] of Object.entries(i.signer.stats())) out[`internal_tokens.${k}`] = v;
      out['internal_tokens.keys_published'] = i.ring.published().length;
      out['internal_tokens.key_rotations'] = i.ring.rotations;
    }
    if (this.#exchangers.size > 0) {
      const sum: Record<string, number> = {};
      for (const x of this.#exchangers.values()) for (const [k, v] of Object.entries(x.stats())) sum[k] = (sum[k] ?? 0) + v;
      for (const [k, v] of Object.entries(sum)) out[`token_exchange.${k}`] = v;
    }
    if (this.#sources.size > 0) {
      const sum: Record<string, number> = { sources: this.#sources.size };
      for (const s of this.#sources.values()) for (const [k, v] of Object.entries(s.stats())) sum[k] = (sum[k] ?? 0) + v;
      for (const [k, v] of Object.entries(sum)) out[`client_credentials.${k}`] = v;
    }
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
    this.#endpoints.close();
    await this.#dispatcher.destroy().catch(() => {});
  }
}
