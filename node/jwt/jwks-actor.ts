// One actor per issuer: owns its key set. Discovers the JWKS URI, fetches keys,
// refreshes them in the background (Cache-Control max-age clamped to the issuer's
// bounds), keeps the last good set on failure (less a key the JWKS now publishes with its private half) with capped exponential backoff, and
// rations unknown-kid refetches (cool-down + token bucket, one in-flight fetch).
// The request path reads `snapshot` synchronously and never waits on the actor.
import type { Agent } from 'undici';
import { undici } from '../lazy-packages.js';
import type { Logger } from 'pino';
import type { IssuerConfig } from '../config/schema.js';
import { discoveryUrls, fetchJson, metadataEndpoint } from './jwks-fetch.js';
import { loggedUrl } from '../log.js';
import { makeSnapshot, sanitizeJwks, thumbprint, type CheckedKeys, type KeySetSnapshot } from './jwk-set.js';
import type { IssuerBundle, IssuerPolicy, KeyEntry } from './types.js';

/** Unknown-kid refetches allowed beyond the cool-down: a bucket of 3, refilled at 3 per minute. */
export const UNKNOWN_KID_BURST = 3;
const UNKNOWN_KID_REFILL_MS = 20_000; // one token per 20 s
const BACKOFF_START_MS = 1_000;
// With no keys loaded yet the issuer's requests get 503 and /readyz says 503, so a load balancer
// sends nothing that could wake the actor: retry at least this often instead of up to max_refresh_s.
const BACKOFF_CAP_WITHOUT_KEYS_MS = 10_000;
/** Failed discoveries/fetches in a row after which a discovered jwks_uri is looked up again. */
const REDISCOVER_AFTER = 3;
/** Leaked key thumbprints an issuer's actor remembers (a JWKS publishing more private halves than this is hostile anyway). */
const LEAKED_MAX = 256;

type Reason = 'start' | 'timer' | 'unknown_kid';

/** The actor's mailbox: async work reports back here; handled without awaiting. */
export type JwksMessage =
  | { readonly type: 'jwks.refresh'; readonly reason: Reason }
  | { readonly type: 'jwks.discovered'; readonly jwksUri: string }
  | { readonly type: 'jwks.fetched'; readonly keys: KeyEntry[]; readonly dropped: string[]; readonly checked: CheckedKeys; readonly maxAgeS: number | null }
  | { readonly type: 'jwks.failed'; readonly stage: 'discovery' | 'jwks'; readonly message: string; readonly leaked?: readonly string[] };

export interface JwksCounters {
  jwks_fetch_ok: number;
  jwks_fetch_failed: number;
  jwks_unknown_kid_refetch: number;
  jwks_unknown_kid_throttled: number;
  /** Keys left out of a fetched JWKS (symmetric, weak, small-order, invalid…), counted per fetch. */
  jwks_keys_refused: number;
}

/** Every JWKS counter at zero (all of them are counters: a reload carries each over, jwt-verifier.ts). */
export const ZERO_JWKS: Readonly<JwksCounters> = Object.freeze({ jwks_fetch_ok: 0, jwks_fetch_failed: 0, jwks_unknown_kid_refetch: 0, jwks_unknown_kid_throttled: 0, jwks_keys_refused: 0 });

export function issuerPolicy(c: IssuerConfig): IssuerPolicy {
  return Object.freeze({
    issuer: c.issuer,
    audiences: Object.freeze([...c.audiences]),
    algorithms: Object.freeze([...c.algorithms]),
    clockSkewS: c.clock_skew_s,
    maxLifetimeS: c.max_token_lifetime_s ?? null,
    requireTyp: c.require_typ === 'at+jwt',
  });
}

export class JwksActor {
  readonly name: string;
  readonly config: IssuerConfig;
  readonly policy: IssuerPolicy;
  readonly counters: JwksCounters = { ...ZERO_JWKS };
  readonly #log: Logger;
  readonly #agent = new (undici().Agent)({ keepAliveTimeout: 30_000, connections: 2 });
  readonly #abort = new AbortController();
  #snapshot: KeySetSnapshot | null = null;
  /** The last good fetch's key checks, reused for the keys the next one leaves unchanged. */
  #checked: CheckedKeys | null = null;
  readonly #leaked = new Set<string>();
  #bundle: IssuerBundle | null = null;
  #jwksUri: string | null;
  #timer: NodeJS.Timeout | null = null;
  #nextAt: number | null = null;
  #inflight: Promise<void> | null = null;
  #settle: (() => void) | null = null;
  #failures = 0;
  #lastUnknownKidAt = -Infinity; // monotonic ms: a wall clock stepped back throttled every refetch for the step
  #bucket = UNKNOWN_KID_BURST;
  #bucketAt = 0; // monotonic ms
  #closed = false;
  /** Replaced by a reload: no timer, no new refetch; closes when the fetch in flight settles. */
  #retired = false;
  #started = false;
  #onReady: (() => void) | null = null;
  /** Resolves at the first key set; never rejects. */
  readonly ready: Promise<void>;

  /** `seed`: keys of the actor this one replaces on reload (same key source), served until the first fetch; `leaked`: that actor's `leakedKeys`. */
  constructor(name: string, config: IssuerConfig, logger: Logger, seed: KeySetSnapshot | null = null, leaked: Iterable<string> = []) {
    for (const t of leaked) this.#remember(t);
    this.name = name;
    this.config = config;
    this.policy = issuerPolicy(config);
    this.#log = logger.child({ component: 'jwks', issuer: name });
    this.#jwksUri = config.jwks_uri ?? null;
    this.ready = new Promise((resolve) => { this.#onReady = resolve; });
    if (seed !== null) {
      // a new version even for the same keys: workers must pick up the new policy
      this.#snapshot = makeSnapshot(seed.keys, null);
      this.#onReady?.();
      this.#onReady = null;
    }
  }

  /** Current keys, null until the first successful fetch. */
  get snapshot(): KeySetSnapshot | null { return this.#snapshot; }

  /**
   * The latest fetch (or discovery) failed: the keys are the last good ones, so a kid missing from
   * them may be a fresh rotation the JWKS could not deliver — its tokens get 503, not 401.
   */
  get failing(): boolean { return this.#failures > 0; }

  /** When the next background fetch is due (ms since epoch), null when none is scheduled. */
  get nextRefreshAt(): number | null { return this.#timer === null ? null : this.#nextAt; }

  /** Keys + policy for the workers, one object per version. */
  get bundle(): IssuerBundle | null {
    const s = this.#snapshot;
    if (s === null) return null;
    if (this.#bundle?.version !== s.version) this.#bundle = Object.freeze({ version: s.version, policy: this.policy, keys: s.keys });
    return this.#bundle;
  }

  /** Begin discovery and the first fetch; non-blocking, idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#receive({ type: 'jwks.refresh', reason: 'start' });
  }

  /**
   * A token named a kid the set lacks. Returns the fetch to wait for (an in-flight one is
   * shared), or null when the cool-down or the refetch budget says no.
   */
  refetchForUnknownKid(): Promise<void> | null {
    if (this.#closed || this.#snapshot === null) return null;
    if (this.#inflight !== null) return this.#inflight;
    if (this.#retired) return null;
    const now = performance.now();
    this.#bucket = Math.min(UNKNOWN_KID_BURST, this.#bucket + Math.max(0, now - this.#bucketAt) / UNKNOWN_KID_REFILL_MS);
    this.#bucketAt = now;
    if (now - this.#lastUnknownKidAt < this.config.jwks.unknown_kid_cooldown_s * 1000 || this.#bucket < 1) {
      this.counters.jwks_unknown_kid_throttled++;
      return null;
    }
    this.#bucket -= 1;
    this.#lastUnknownKidAt = now;
    this.counters.jwks_unknown_kid_refetch++;
    this.#receive({ type: 'jwks.refresh', reason: 'unknown_kid' });
    return this.#inflight;
  }

  /**
   * A reload replaced this actor: timers stop and no new refetch starts, but a fetch in flight
   * finishes (bounded by jwks.timeout_ms) so the requests waiting on it get its keys, then the
   * actor closes. close() instead aborted that fetch: an unknown-kid wait became 401.
   */
  retire(): void {
    if (this.#closed || this.#retired) return;
    this.#retired = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const inflight = this.#inflight;
    if (inflight === null) void this.close();
    else void inflight.then(() => this.close());
  }

  /** Stop timers and abort an in-flight fetch; the last snapshot stays readable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort.abort();
    this.#finish();
    await this.#agent.destroy().catch(() => {});
  }

  #receive(msg: JwksMessage): void {
    if (this.#closed) return;
    switch (msg.type) {
      case 'jwks.refresh':
        if (this.#inflight !== null) return;
        if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
        this.#inflight = new Promise((resolve) => { this.#settle = resolve; });
        void this.#fetch(msg.reason);
        return;
      case 'jwks.discovered':
        this.#jwksUri = msg.jwksUri;
        return;
      case 'jwks.fetched': {
        const prev = this.#snapshot;
        this.#snapshot = makeSnapshot(msg.keys, prev);
        this.#checked = msg.checked;
        this.#failures = 0;
        this.counters.jwks_fetch_ok++;
        if (msg.dropped.length > 0) {
          // every fetch, not only when the usable set changes: a bad key added next to unchanged good ones must show
          this.counters.jwks_keys_refused += msg.dropped.length;
          this.#log.warn({ refused: msg.dropped }, 'jwks keys refused');
        }
        if (this.#snapshot !== prev) {
          this.#log.info({ version: this.#snapshot.version, kids: msg.keys.map((k) => k.id), dropped: msg.dropped }, 'jwks loaded');
        }
        const { min_refresh_s: min, max_refresh_s: max } = this.config.jwks;
        this.#schedule(Math.min(max, Math.max(min, msg.maxAgeS ?? max)) * 1000);
        this.#onReady?.();
        this.#onReady = null;
        this.#finish();
        return;
      }
      case 'jwks.failed': {
        this.counters.jwks_fetch_failed++;
        this.#failures++;
        if (this.config.jwks_uri === undefined && this.#failures % REDISCOVER_AFTER === 0) this.#jwksUri = null;
        const cap = Math.min(this.config.jwks.max_refresh_s * 1000, this.#snapshot === null ? BACKOFF_CAP_WITHOUT_KEYS_MS : Infinity);
        const delay = Math.min(cap, BACKOFF_START_MS * 2 ** Math.min(this.#failures - 1, 30)) * (0.8 + Math.random() * 0.2);
        this.#withdrawLeaked(msg.leaked ?? []);
        this.#log.warn({ stage: msg.stage, error: msg.message, failures: this.#failures, retryInMs: Math.round(delay), keepingKeys: this.#snapshot !== null }, 'jwks fetch failed');
        this.#schedule(delay);
        this.#finish();
        return;
      }
      default: {
        const never: never = msg;
        throw new Error(`jwks actor: unknown message ${(never as { type: string }).type}`);
      }
    }
  }

  /**
   * A failed fetch keeps the last good keys, but not one the JWKS now publishes with its private half: anyone who
   * read it can sign with that key (before, it stayed in use as a last good key and their tokens reached the upstream).
   */
  #withdrawLeaked(leaked: readonly string[]): void {
    const prev = this.#snapshot;
    if (prev === null || leaked.length === 0) return;
    const gone = prev.keys.filter((k) => leaked.includes(thumbprint(k.jwk)));
    if (gone.length === 0) return;
    this.#snapshot = makeSnapshot(prev.keys.filter((k) => !gone.includes(k)), prev);
    this.#log.error({ kids: gone.map((k) => k.id), version: this.#snapshot.version }, 'jwks key withdrawn: the JWKS publishes its private half, its tokens are refused');
  }

  /** Thumbprints of the keys this issuer's JWKS has published with their private half (carried to a reload's replacement). */
  get leakedKeys(): readonly string[] { return [...this.#leaked]; }

  /** Thumbprints of keys this issuer's JWKS published with their private half (bounded: the oldest forgotten past LEAKED_MAX). */
  #remember(thumb: string): void {
    this.#leaked.delete(thumb);
    this.#leaked.add(thumb);
    if (this.#leaked.size > LEAKED_MAX) this.#leaked.delete(this.#leaked.values().next().value!);
  }

  #finish(): void {
    const settle = this.#settle;
    this.#inflight = null;
    this.#settle = null;
    settle?.();
  }

  #schedule(ms: number): void {
    if (this.#retired) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#nextAt = Date.now() + ms;
    this.#timer = setTimeout(() => { this.#timer = null; this.#receive({ type: 'jwks.refresh', reason: 'timer' }); }, ms);
    this.#timer.unref();
  }

  /** The async part of a refresh: reports its outcome as a message. */
  async #fetch(reason: Reason): Promise<void> {
    const io = { dispatcher: this.#agent, timeoutMs: this.config.jwks.timeout_ms, signal: this.#abort.signal };
    try {
      let uri = this.#jwksUri;
      if (uri === null) {
        const found = await this.#discover(io);
        if (typeof found !== 'string') { this.#receive({ type: 'jwks.failed', stage: 'discovery', message: found.message }); return; }
        uri = found;
        this.#receive({ type: 'jwks.discovered', jwksUri: uri });
      }
      const res = await fetchJson(uri, io);
      if (!res.ok) { this.#receive({ type: 'jwks.failed', stage: 'jwks', message: `${loggedUrl(uri)}: ${res.message}` }); return; }
      const keys = sanitizeJwks(res.body, this.#checked);
      for (const t of keys.leaked) this.#remember(t);
      if (!keys.ok) { this.#receive({ type: 'jwks.failed', stage: 'jwks', message: `${loggedUrl(uri)}: ${keys.message}`, leaked: keys.leaked }); return; }
      // a key once published with its private half stays refused when it comes back public: anyone may hold its private half
      const burnt = keys.keys.filter((k) => this.#leaked.has(thumbprint(k.jwk)));
      const usable = burnt.length === 0 ? keys.keys : keys.keys.filter((k) => !burnt.includes(k));
      const dropped = burnt.length === 0 ? keys.dropped : [...keys.dropped, ...burnt.map((k) => `kid ${JSON.stringify(k.id.slice(0, 128))}: published with its private half before`)];
      if (usable.length === 0) { this.#receive({ type: 'jwks.failed', stage: 'jwks', message: `${loggedUrl(uri)}: JWKS has no usable signature key (${dropped.slice(0, 4).join('; ')})`, leaked: [...this.#leaked] }); return; }
      this.#log.debug({ reason }, 'jwks fetched');
      this.#receive({ type: 'jwks.fetched', keys: usable, dropped, checked: keys.checked, maxAgeS: res.maxAgeS });
    } catch (err) {
      this.#receive({ type: 'jwks.failed', stage: 'jwks', message: (err as Error)?.message ?? 'unexpected error' });
    }
  }

  /** The jwks_uri from the first metadata document whose `issuer` equals ours (RFC 8414 §3.3). */
  async #discover(io: Parameters<typeof fetchJson>[1]): Promise<string | { message: string }> {
    if (this.config.discovery === false) return { message: 'discovery disabled and no jwks_uri configured' };
    const errors: string[] = [];
    for (const url of discoveryUrls(this.config.issuer, this.config.discovery)) {
      const shown = loggedUrl(url);
      const res = await fetchJson(url, io);
      if (!res.ok) { errors.push(`${shown}: ${res.message}`); continue; }
      const doc = res.body as { issuer?: unknown; jwks_uri?: unknown } | null;
      if (doc?.issuer !== this.config.issuer) { errors.push(`${shown}: issuer does not match`); continue; }
      const uri = metadataEndpoint(url, doc.jwks_uri);
      if (uri === 'missing') { errors.push(`${shown}: no http(s) jwks_uri`); continue; }
      if (uri === 'downgrade') { errors.push(`${shown}: jwks_uri is plain http in an https document (refused)`); continue; }
      return uri;
    }
    return { message: errors.join('; ') };
  }
}
