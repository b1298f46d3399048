// The DPoP step of the auth layer (RFC 9449), run after authenticate produced a principal:
// decides whether the request needs a proof (token bound by cnf.jkt, `Authorization: DPoP`,
// or a route with `auth.dpop.required`), verifies it, checks the nonce and the replay cache,
// and gives every denial of a DPoP request the DPoP challenge (scheme, algs, DPoP-Nonce).
import { checkCertBinding, checksCertificates } from './cert-binding.js';
import { createHash, hash } from 'node:crypto';
import type { Config } from '../config/index.js';
import { proxyError, type ErrorCode, type ProxyError } from '../errors.js';
import type { Logger } from '../log.js';
import { CONTINUE, type RequestContext, type StageResult } from '../pipeline/context.js';
import { DEFAULT_DPOP_POLICY, type DpopPolicy } from './dpop-policy.js';
import { clientOrigin } from './htu.js';
import { MIN_NONCE_SECRET_BYTES, NonceSource } from './nonce.js';
import { ProofKeyCache } from './proof-key.js';
import { PROOF_FAILURES, verifyProof, type ProofReason } from './proof-verifier.js';
import { inheritedWallOffsetMs, type ReplaySharing, type ReplayVerdict } from '../contracts/index.js';
import { ReplayCache } from './replay-cache.js';
import { ReplayGuard } from './replay-guard.js';
import { shownEnvName } from '../config/env-check.js';

export interface DpopStageOptions {
  readonly config: Config;
  /** Cluster-wide replay sharing; null = this instance's cache only. */
  readonly sharing?: ReplaySharing | null;
  /** Environment for `dpop.nonce.secret_env`; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** Clock, epoch ms (tests). */
  readonly now?: () => number;
}

/** Reasons decided here rather than by the proof verifier. */
type StageReason = 'dpop_missing' | 'dpop_multiple' | 'dpop_replayed' | 'dpop_replay_floor' | 'dpop_unbound_token' | 'dpop_required' | 'dpop_bound_token_as_bearer';

const STAGE_DENIALS: Readonly<Record<StageReason, readonly [ErrorCode, string]>> = {
  dpop_missing: ['PORTCULLIS_ERR_DPOP_INVALID_PROOF', 'DPoP proof missing'],
  dpop_multiple: ['PORTCULLIS_ERR_DPOP_INVALID_PROOF', 'more than one DPoP header'],
  dpop_replayed: ['PORTCULLIS_ERR_DPOP_INVALID_PROOF', 'DPoP proof already used (jti replayed)'],
  dpop_replay_floor: ['PORTCULLIS_ERR_DPOP_INVALID_PROOF', 'DPoP proof too old for the replay cache: send a fresh proof'],
  dpop_unbound_token: ['PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token is not DPoP-bound (no cnf.jkt) but was sent with the DPoP scheme'],
  dpop_required: ['PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'this route requires a DPoP-bound token and a DPoP proof'],
  dpop_bound_token_as_bearer: ['PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'DPoP-bound token must be sent with the DPoP scheme and a DPoP proof'],
};

/**
 * The token's cnf.jkt: undefined when the token is not DPoP-bound; '' (matches no key) when
 * cnf.jkt is present but not a string, so a malformed binding fails closed.
 */
export function boundJkt(claims: Readonly<Record<string, unknown>>): string | undefined {
  const cnf = claims.cnf;
  if (cnf === null || typeof cnf !== 'object') return undefined;
  const jkt = (cnf as Record<string, unknown>).jkt;
  if (jkt === undefined) return undefined;
  return typeof jkt === 'string' ? jkt : '';
}

/**
 * A `cnf` (RFC 7800) the proxy cannot enforce: any confirmation member other than `jkt`
 * (`x5t#S256` — RFC 8705 mutual-TLS binding — `jwk`, `jwe`, `kid`, `jku`), or a `cnf` that
 * is not an object. Such a token is refused: accepting it would drop its sender constraint.
 * Returns the first such member (or 'cnf' when malformed), null when none.
 */
export function unenforceableBinding(claims: Readonly<Record<string, unknown>>, mtls = false): string | null {
  const cnf = claims.cnf;
  if (cnf === undefined) return null;
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return 'cnf';
  // x5t#S256 is enforceable on a listener that checks client certificates (cert-binding.ts)
  for (const k in cnf) if (k !== 'jkt' && !(mtls && k === 'x5t#S256') && Object.hasOwn(cnf, k)) return k;
  return null;
}

/** Bearer-scheme refusal of a token bound by a method the proxy cannot check. */
const UNENFORCEABLE_BINDING: StageResult = Object.freeze({
  kind: 'deny' as const,
  error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 'token is bound by a confirmation method this proxy cannot check (cnf other than jkt, e.g. x5t#S256 for mutual TLS)')),
  reason: 'cnf_unenforceable',
});

export interface Settings {
  readonly algorithms: ReadonlySet<string>;
  /** `algs` of the challenge: the allowlist, space separated. */
  readonly algs: string;
  readonly maxProofBytes: number;
  /** Widest `auth.dpop.iat_window_s` of any route, s: a seen proof is remembered until its iat + this. */
  readonly maxWindowS: number;
  readonly trustForwarded: boolean;
  readonly nonceKey: string;
}

/** Counters of the stage (the replay cache and guard keep theirs). */
interface Counters {
  proofs_checked: number;
  proofs_accepted: number;
  proofs_refused: number;
  nonce_challenges: number;
  bound_as_bearer: number;
  nonces_refreshed: number;
  /** Proofs refused with 503: dated within the window of a replay record this build could not read. */
  replay_unreadable_refused: number;
}

/** What DpopStage.prepare built for a new config: applied by commit, nothing to release. */
export interface PreparedDpop {
  readonly settings: Settings;
  readonly nonces: NonceSource;
  readonly maxEntries: number;
  readonly ownerTimeoutMs: number;
  /** Nonce-requiring routes in a cluster without a shared secret (warned about on commit). */
  readonly unsharedNonces: boolean;
}

/** One per auth layer; reconfigured on reload (prepare, then commit). */
export class DpopStage {
  private settings!: Settings;
  private denials = new Map<string, StageResult>();
  private wrapped = new WeakMap<StageResult, StageResult>();
  private nonceDenial: { readonly nonce: string; readonly result: StageResult } | null = null;
  /** Proofs with an earlier iat are refused: a reload widened the window past what the cache remembers. */
  private minIatS = 0;
  private nonces!: NonceSource;
  private readonly keys = new ProofKeyCache();
  private readonly cache: ReplayCache;
  private readonly guard: ReplayGuard;
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly counters: Counters = { proofs_checked: 0, proofs_accepted: 0, proofs_refused: 0, nonce_challenges: 0, bound_as_bearer: 0, nonces_refreshed: 0, replay_unreadable_refused: 0 };

  constructor(private readonly opts: DpopStageOptions) {
    this.now = opts.now ?? Date.now;
    this.env = opts.env ?? process.env;
    const d = opts.config.dpop;
    // the monotonic clock with the real wall clock only: a test that moves `now` by hand moves no monotonic clock
    this.cache = opts.now === undefined ? new ReplayCache(d.replay.max_entries, () => performance.now(), inheritedWallOffsetMs()) : new ReplayCache(d.replay.max_entries);
    this.commit(this.prepare(opts.config));
    this.guard = new ReplayGuard(this.cache, opts.sharing?.attach(this.cache) ?? null, d.replay.owner_timeout_ms);
    // a first sweep now: the cache learns the two clocks' offset at start, not at a first read after a step
    this.cache.sweep(Math.floor(this.now() / 1000));
    this.sweeper = setInterval(() => this.cache.sweep(Math.floor(this.now() / 1000)), 1_000);
    this.sweeper.unref();
  }

  /** prepare + commit in one step. Throws, changing nothing, when the nonce secret variable is unset or short. */
  reconfigure(config: Config): void {
    this.commit(this.prepare(config));
  }

  /**
   * Reload, step 1: the settings and nonce source of `config`, without touching the running ones.
   * Throws when `dpop.nonce.secret_env` names an unset or empty variable or a secret under 32 bytes.
   */
  prepare(config: Config): PreparedDpop {
    const d = config.dpop;
    let secret: Buffer | null = null;
    if (d.nonce.secret_env !== undefined) {
      const v = this.env[d.nonce.secret_env];
      if (v === undefined || v === '') throw new Error(`dpop.nonce.secret_env: environment variable ${shownEnvName(d.nonce.secret_env)} is not set`);
      secret = Buffer.from(v, 'utf8');
      if (secret.length < MIN_NONCE_SECRET_BYTES) throw new Error(`dpop.nonce.secret_env: ${shownEnvName(d.nonce.secret_env)} must hold at least ${MIN_NONCE_SECRET_BYTES} bytes`);
    }
    const nonceKey = `${d.nonce.lifetime_s}:${secret === null ? 'random' : createHash('sha256').update(secret).digest('hex')}`;
    const nonces = this.settings?.nonceKey === nonceKey ? this.nonces
      : secret === null ? NonceSource.random(d.nonce.lifetime_s) : new NonceSource(secret, d.nonce.lifetime_s);
    const settings: Settings = Object.freeze({
      algorithms: new Set<string>(d.algorithms),
      algs: d.algorithms.join(' '),
      maxProofBytes: d.max_proof_bytes,
      maxWindowS: config.routes.reduce((m, r) => (typeof r.auth === 'object' ? Math.max(m, r.auth.dpop.iat_window_s) : m), DEFAULT_DPOP_POLICY.iatWindowS),
      trustForwarded: config.server.trust_forwarded,
      nonceKey,
    });
    const unsharedNonces = secret === null && config.routes.some((r) => typeof r.auth === 'object' && r.auth.dpop.nonce)
      && (config.cluster.nats !== undefined || config.server.workers !== 1);
    return { settings, nonces, maxEntries: d.replay.max_entries, ownerTimeoutMs: d.replay.owner_timeout_ms, unsharedNonces };
  }

  /** Reload, step 2: switch to `p` (synchronous, never throws). */
  commit(p: PreparedDpop): void {
    if (p.unsharedNonces) this.opts.logger.warn('DPoP nonces without dpop.nonce.secret_env: each process issues its own, so a nonce from one is refused by the others');
    // a wider window would accept again proofs the cache let go (or lets go) by the old one: keep
    // the entries for the new width and refuse what the old window already refused
    const prev = this.settings?.maxWindowS;
    if (prev !== undefined && p.settings.maxWindowS > prev) {
      this.cache.extend(p.settings.maxWindowS - prev);
      this.minIatS = Math.max(this.minIatS, Math.floor(this.now() / 1000) - prev);
    }
    this.cache?.setWindow(p.settings.maxWindowS);
    this.nonces = p.nonces;
    this.settings = p.settings;
    this.denials = new Map();
    this.wrapped = new WeakMap();
    this.nonceDenial = null;
    // the first commit runs from the constructor, before the cache and guard exist
    this.cache?.resize(p.maxEntries);
    this.guard?.setTimeout(p.ownerTimeoutMs);
  }

  /**
   * After authenticate: CONTINUE when the request needs no proof or its proof holds; else the
   * denial (401 invalid_dpop_proof / use_dpop_nonce / invalid_token). A Promise only when the
   * replay check asks the key's owner over the bus. Never rejects.
   */
  check(ctx: RequestContext): StageResult | Promise<StageResult> {
    const principal = ctx.principal;
    if (principal === null) return CONTINUE;
    const policy = policyOf(ctx);
    if (principal.claims.cnf !== undefined) {
      const mtls = checksCertificates(ctx);
      if (unenforceableBinding(principal.claims, mtls) !== null) return UNENFORCEABLE_BINDING;
      if (mtls) { const b = checkCertBinding(ctx, principal.claims); if (b.kind === 'deny') return b; }
    }
    const jkt = boundJkt(principal.claims);
    const dpopScheme = ctx.tokenScheme === 'dpop';
    if (jkt === undefined) {
      if (dpopScheme) return this.deny('dpop_unbound_token');
      return policy.required ? this.deny('dpop_required') : CONTINUE;
    }
    if (!dpopScheme) {
      this.counters.bound_as_bearer++;
      return this.deny('dpop_bound_token_as_bearer');
    }
    return this.verify(ctx, jkt, policy);
  }

  private verify(ctx: RequestContext, jkt: string, policy: DpopPolicy): StageResult | Promise<StageResult> {
    this.counters.proofs_checked++;
    const h = ctx.headers;
    let proof: string | null = null;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] !== 'dpop') continue;
      if (proof !== null) return this.refuse('dpop_multiple');
      proof = h[i + 1]!;
    }
    if (proof === null) return this.refuse('dpop_missing');
    const st = this.settings;
    const nowS = Math.floor(this.now() / 1000);
    // the scheme is the connection's own (ctx.secure): the main listener and the HTTP/2 one may differ in TLS
    const r = verifyProof({
      proof: proof.trim(), method: ctx.method, origin: ctx.origin !== undefined ? ctx.origin : clientOrigin(h, ctx.secure === true, st.trustForwarded), path: ctx.path,
      ath: hash('sha256', ctx.token ?? '', 'base64url'), jkt,
    }, { algorithms: st.algorithms, maxProofBytes: st.maxProofBytes, iatWindowS: policy.iatWindowS, nowS }, this.keys);
    if (!r.ok) return this.refuse(r.reason, r.message);
    if (r.iat < this.minIatS) return this.refuse('dpop_iat_stale', PROOF_FAILURES.dpop_iat_stale.message);
    if (policy.nonce) {
      if (!this.nonces.accepts(r.nonce, nowS)) {
        this.counters.nonce_challenges++;
        return this.useNonce(nowS);
      }
      // the previous bucket's nonce still passes; hand out the current one with the response
      // (RFC 9449 §8.2) so the client switches before it expires, without a 401 round trip
      if (!this.nonces.isCurrent(r.nonce, nowS)) {
        ctx.responseHeaders = ['dpop-nonce', this.nonces.current(nowS)];
        this.counters.nonces_refreshed++;
      }
    }
    const unknown = this.unreadableGate(r.iat, nowS);
    if (unknown !== null) return unknown;
    // jti is unique per key (RFC 9449 §11.1): key the cache by both, hashed to a fixed size.
    const key = createHash('sha256').update(jkt).update('\n').update(r.jti).digest('base64url');
    // remembered for the widest window of any route, not this route's: a reload widening this
    // route's window (up to that) cannot bring a used proof back
    const v = this.guard.check(key, Math.max(0, Math.ceil(r.iat)) + st.maxWindowS, nowS);
    // asked over the bus: an owner's verdict this build could not read ends as a timeout judged locally —
    // the gate, closed meanwhile by that very answer, decides first
    return typeof v === 'string' ? this.afterReplay(v) : v.then((x) => this.unreadableGate(r.iat, Math.floor(this.now() / 1000)) ?? this.afterReplay(x));
  }

  /**
   * A member of a newer build recorded a proof in a message this build could not read (signed at `at`): that
   * proof is missing from the replay cache here, so its replay would pass. Any proof it could be — one dated
   * no later than `at` + the widest window (+1 s for rounding) — is refused with 503 and Retry-After until a
   * proof minted now is dated past that; proofs minted later pass. Null when no such message, or `iat` is later.
   */
  private unreadableGate(iat: number, nowS: number): StageResult | null {
    const last = this.gateLast();
    if (iat > last) return null;
    this.counters.proofs_refused++;
    this.counters.replay_unreadable_refused++;
    const err = proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'DPoP replay state incomplete (a replay record this build cannot read): retry with a fresh proof', { retryAfter: Math.max(1, last + 1 - nowS) });
    return Object.freeze({ kind: 'deny' as const, error: Object.freeze(err), reason: 'dpop_replays_unreadable' });
  }

  /** The latest iat the unreadable-record gate refuses, epoch s; -1 when no such record arrived. */
  private gateLast(): number {
    const at = this.guard.unreadableAt();
    return at === 0 ? -1 : Math.ceil(at / 1000) + this.settings.maxWindowS + 1;
  }

  private afterReplay(v: ReplayVerdict): StageResult {
    if (v === 'fresh') {
      this.counters.proofs_accepted++;
      return CONTINUE;
    }
    return this.refuse(v === 'replayed' ? 'dpop_replayed' : 'dpop_replay_floor');
  }

  /**
   * Give a denial of a DPoP request the DPoP challenge (`WWW-Authenticate: DPoP …, algs=…`):
   * requests on routes requiring DPoP, sent with the DPoP scheme, or carrying a bound token.
   * Others pass unchanged. Cached per denial object, so refusals rarely allocate.
   */
  challenge(ctx: RequestContext, r: StageResult): StageResult {
    if (r.kind !== 'deny' || r.error.dpop !== undefined) return r;
    if (ctx.tokenScheme !== 'dpop' && !policyOf(ctx).required && (ctx.principal === null || boundJkt(ctx.principal.claims) === undefined)) return r;
    let w = this.wrapped.get(r);
    if (w === undefined) {
      w = Object.freeze({ kind: 'deny' as const, error: Object.freeze({ ...r.error, dpop: Object.freeze({ algs: this.settings.algs }) }), reason: r.reason });
      if (Object.isFrozen(r)) this.wrapped.set(r, w);
    }
    return w;
  }

  /** Flat counters for /metrics and /cache/stats (the auth layer prefixes `dpop.`). */
  stats(): Record<string, number> {
    const c = this.cache.stats();
    const g = this.guard.stats();
    const sync: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.guard.peerStats())) sync[`replay_sync_${k}`] = v;
    return {
      ...this.counters,
      replay_entries: c.entries, replays_refused: c.replayed, replay_too_old: c.too_old, replay_evicted_live: c.evicted_live,
      replay_owner_asked: g.owner_asked, replay_owner_refused: g.owner_refused, replay_fallback_local: g.fallback_local, replay_owner_waited: g.owner_waited,
      key_cache_entries: this.keys.size, key_imports: this.keys.imports, ...sync,
      replay_unreadable_gate: this.gateLast() >= Math.floor(this.now() / 1000) ? 1 : 0,
    };
  }

  close(): void {
    clearInterval(this.sweeper);
    this.guard.detach();
  }

  private refuse(reason: ProofReason | StageReason, message?: string): StageResult {
    this.counters.proofs_refused++;
    return this.deny(reason, message);
  }

  private deny(reason: ProofReason | StageReason, message?: string): StageResult {
    let d = this.denials.get(reason);
    if (d === undefined) {
      const [code, text] = (STAGE_DENIALS as Record<string, readonly [ErrorCode, string]>)[reason] ?? ['PORTCULLIS_ERR_DPOP_INVALID_PROOF', message ?? 'invalid DPoP proof'];
      d = this.freezeDeny(proxyError(code, text), reason);
      this.denials.set(reason, d);
    }
    return d;
  }

  private useNonce(nowS: number): StageResult {
    const nonce = this.nonces.current(nowS);
    if (this.nonceDenial?.nonce !== nonce) {
      this.nonceDenial = { nonce, result: this.freezeDeny(proxyError('PORTCULLIS_ERR_DPOP_NONCE_REQUIRED', 'resource server requires a nonce in the DPoP proof'), 'dpop_nonce', nonce) };
    }
    return this.nonceDenial.result;
  }

  private freezeDeny(err: ProxyError, reason: string, nonce?: string): StageResult {
    const dpop = Object.freeze(nonce === undefined ? { algs: this.settings.algs } : { algs: this.settings.algs, nonce });
    return Object.freeze({ kind: 'deny' as const, error: Object.freeze({ ...err, dpop }), reason });
  }
}

/** The route's DPoP policy (compiled into its auth policy); defaults for routes without one. */
function policyOf(ctx: RequestContext): DpopPolicy {
  const p = ctx.route.policy as { readonly dpop?: DpopPolicy } | null;
  return p?.dpop ?? DEFAULT_DPOP_POLICY;
}
