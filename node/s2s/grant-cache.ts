// Outbound tokens bound to an inbound token: per (SHA-256 of the inbound token, audience)
// the Authorization value to send upstream, reused until shortly before it expires,
// fetched once for concurrent requests (single-flight), dropped when the inbound token is
// revoked, its own revocation keys are revoked, or the upstream refuses it (rate-limited). Bounded by inbound tokens; the oldest is evicted first.
import type { TokenFacts } from '../contracts/index.js';
import type { StageResult } from '../pipeline/context.js';
import { REFUSAL_COOLDOWN_MS, type RefusalOutcome } from './upstream-refusal.js';

export type Deny = StageResult & { readonly kind: 'deny' };
/** What an outbound step yields: the Authorization header value, or a refusal. */
export type OutboundResult = string | Deny;

/** What a load produces: a value usable until `useUntil` (epoch ms), or a refusal (never cached). */
/** `facts`: the outbound token's own revocation keys when known (a token the proxy minted), so a revocation of it evicts it. */
export type Grant = { readonly ok: true; readonly authorization: string; readonly useUntil: number; readonly facts?: TokenFacts } | { readonly ok: false; readonly deny: Deny };

/** A revocation as the s2s layer receives it (cluster/protocol's RevocationRecord fits). */
export interface RevocationLike { readonly kind: string; readonly value: string; readonly issuer?: string | null }

/**
 * Does `r` name the token with facts `f` itself (not the inbound token it was obtained for)? Its
 * issuer, when set, must be the token's `iss`; jti, token hash and kid compare directly; sub,
 * client_id, sid and sub_without_sid cuts are judged by `isRevoked` (the per-request check), false without one.
 */
export function namesToken(r: RevocationLike, f: TokenFacts, isRevoked: ((f: TokenFacts) => boolean) | null): boolean {
  if (r.issuer != null && r.issuer !== f.iss) return false;
  switch (r.kind) {
    case 'jti': return f.jti === r.value;
    case 'token': return f.tokenHash === r.value || f.twinHash === r.value;
    case 'kid': return f.kid === r.value;
    case 'sub': case 'client_id': case 'sid': case 'sub_without_sid': return isRevoked?.(f) === true;
    default: return false;
  }
}

/** Revocation kinds matched by a claim of the value itself, with their index prefix. */
const CLAIM_PREFIX: Readonly<Record<string, string>> = { sub: 's:', sub_without_sid: 's:', client_id: 'c:', sid: 'i:', kid: 'k:' };

/** The claim index keys of a value with facts `f`. */
function claimKeys(f: TokenFacts): string[] {
  const out: string[] = [];
  if (f.sub !== undefined) out.push(`s:${f.sub}`);
  if (f.clientId !== undefined) out.push(`c:${f.clientId}`);
  if (f.sid !== undefined) out.push(`i:${f.sid}`);
  if (f.kid !== undefined) out.push(`k:${f.kid}`);
  return out;
}

interface Slot {
  value: string | null;
  useUntil: number;
  pending: Promise<OutboundResult> | null;
  /** The inbound token was revoked while this slot was loading. */
  revoked: boolean;
  /** When an upstream's refusal last dropped this slot's value (the monotonic clock, `mono`); -∞ before. */
  droppedAt: number;
  /** The cached value's own revocation keys (Grant.facts), null when unknown or no value. */
  facts: TokenFacts | null;
}

export class TokenBoundCache {
  readonly #byToken = new Map<string, Map<string, Slot>>();
  /** `j:<jti>` and `t:<SHA-256 hex>` of cached values with facts → their slot: a revocation by jti or token finds it in O(1). */
  readonly #byKey = new Map<string, Slot>();
  /**
   * `sub`, `client_id`, `sid` and `kid` of cached values with facts → their slots: a revocation of one
   * looks at the values carrying it, not the whole cache (a scan of 10 000 entries took ~5 ms per
   * revocation: a storm of 1 000 sub revocations a second held the event loop for the proxy's traffic).
   */
  readonly #byClaim = new Map<string, Set<Slot>>();
  readonly #max: number;
  readonly #revoked: Deny;
  readonly #now: () => number;
  readonly #mono: () => number;
  #hits = 0;
  #misses = 0;
  #waits = 0;
  #evictions = 0;
  #revocations = 0;

  /**
   * `maxTokens` inbound tokens kept (0 = no caching, single-flight still applies); `revoked` answers a load
   * overtaken by a revocation. `now`: the wall clock values expire by (epoch ms); `mono`: the clock the
   * refusal cool-down is measured on (ms, monotonic: a stepped wall clock must not stretch it).
   */
  constructor(maxTokens: number, revoked: Deny, now: () => number = Date.now, mono: () => number = () => performance.now()) {
    this.#max = maxTokens;
    this.#revoked = revoked;
    this.#now = now;
    this.#mono = mono;
  }

  /**
   * The cached value (synchronous, allocation-free: pass a `load` created once, not a closure
   * per call), the load in flight, or a new `load(arg, audience)`, which must never reject.
   */
  get<A>(tokenHash: string, audience: string, arg: A, load: (arg: A, audience: string) => Promise<Grant>): OutboundResult | Promise<OutboundResult> {
    let inner = this.#byToken.get(tokenHash);
    let slot = inner?.get(audience);
    if (slot !== undefined) {
      if (slot.value !== null && slot.useUntil > this.#now()) { this.#hits++; return slot.value; }
      if (slot.pending !== null) { this.#waits++; return slot.pending; }
    }
    this.#misses++;
    if (inner === undefined) {
      inner = new Map();
      this.#byToken.set(tokenHash, inner);
      this.#bound();
    }
    if (slot === undefined) {
      slot = { value: null, useUntil: 0, pending: null, revoked: false, droppedAt: Number.NEGATIVE_INFINITY, facts: null };
      inner.set(audience, slot);
    }
    const s = slot;
    const owner = inner;
    s.pending = load(arg, audience).then((g) => {
      s.pending = null;
      if (s.revoked) return this.#revoked;
      if (!g.ok) {
        if (s.value === null || s.useUntil <= this.#now()) this.#remove(tokenHash, audience, owner, s);
        return g.deny;
      }
      this.#unindex(s);
      s.value = g.authorization;
      s.useUntil = g.useUntil;
      s.facts = g.facts ?? null;
      this.#index(s);
      if (this.#max === 0 || g.useUntil <= this.#now()) this.#remove(tokenHash, audience, owner, s);
      return g.authorization;
    });
    return s.pending;
  }

  /** Forget every value bound to this inbound token; loads in flight answer `revoked`. True if any was held. */
  revoke(tokenHash: string): boolean {
    const inner = this.#byToken.get(tokenHash);
    if (inner === undefined) return false;
    this.#byToken.delete(tokenHash);
    for (const s of inner.values()) { s.revoked = true; this.#unindex(s); }
    this.#revocations++;
    return true;
  }

  /**
   * Drop every cached value `r` names itself (namesToken): by jti or token hash found in O(1), by sub,
   * client_id, sid or kid among the values carrying that claim (a cut of the inbound token's claims alone
   * needs no eviction: the per-request check refuses that token before any outbound step). The slot
   * stays, so the next get() loads anew. Returns how many went.
   */
  revokeOwn(r: RevocationLike, isRevoked: ((f: TokenFacts) => boolean) | null): number {
    if (r.kind === 'jti' || r.kind === 'token') {
      const s = this.#byKey.get((r.kind === 'jti' ? 'j:' : 't:') + r.value);
      if (s === undefined || s.facts === null || !namesToken(r, s.facts, isRevoked)) return 0;
      this.#drop(s);
      return 1;
    }
    const prefix = CLAIM_PREFIX[r.kind];
    const slots = prefix === undefined ? undefined : this.#byClaim.get(prefix + r.value);
    if (slots === undefined) return 0;
    let n = 0;
    for (const s of [...slots]) if (s.facts !== null && s.value !== null && namesToken(r, s.facts, isRevoked)) { this.#drop(s); n++; }
    return n;
  }

  /**
   * The upstream answered 401 invalid_token to `value`, bound to (tokenHash, audience): dropped when
   * it is still the cached value, at most once per slot per REFUSAL_COOLDOWN_MS (the slot stays, with
   * that time, so the next get() loads anew). `replaced`/`evicted`: get() now gives (or loads) another value.
   */
  refused(tokenHash: string, audience: string, value: string): RefusalOutcome {
    const s = this.#byToken.get(tokenHash)?.get(audience);
    let outcome: RefusalOutcome = 'replaced';
    if (s !== undefined && s.value === value) {
      const now = this.#mono();
      outcome = now - s.droppedAt < REFUSAL_COOLDOWN_MS ? 'throttled' : 'evicted';
      if (outcome === 'evicted') {
        s.droppedAt = now;
        this.#unindex(s);
        s.value = null;
        s.useUntil = 0;
      }
    }
    return outcome;
  }

  get size(): number { return this.#byToken.size; }

  stats(): Record<string, number> {
    return {
      cache_hits: this.#hits, cache_misses: this.#misses, singleflight_waits: this.#waits,
      cache_tokens: this.#byToken.size, cache_evictions: this.#evictions, revocation_evictions: this.#revocations,
    };
  }

  clear(): void {
    this.#byToken.clear();
    this.#byKey.clear();
    this.#byClaim.clear();
  }

  /** A revocation of the value itself: it goes, the slot stays, so the next get() loads anew. */
  #drop(s: Slot): void {
    this.#unindex(s);
    s.value = null;
    s.useUntil = 0;
    this.#revocations++; // counted with the inbound-token revocations: the metric's reason is `revoked` either way
  }

  #index(s: Slot): void {
    const f = s.facts;
    if (f === null) return;
    if (f.jti !== undefined) this.#byKey.set(`j:${f.jti}`, s);
    this.#byKey.set(`t:${f.tokenHash}`, s);
    for (const k of claimKeys(f)) {
      const set = this.#byClaim.get(k);
      if (set === undefined) this.#byClaim.set(k, new Set([s]));
      else set.add(s);
    }
  }

  #unindex(s: Slot): void {
    const f = s.facts;
    if (f === null) return;
    s.facts = null;
    if (f.jti !== undefined && this.#byKey.get(`j:${f.jti}`) === s) this.#byKey.delete(`j:${f.jti}`);
    if (this.#byKey.get(`t:${f.tokenHash}`) === s) this.#byKey.delete(`t:${f.tokenHash}`);
    for (const k of claimKeys(f)) {
      const set = this.#byClaim.get(k);
      if (set !== undefined && set.delete(s) && set.size === 0) this.#byClaim.delete(k);
    }
  }

  #remove(tokenHash: string, audience: string, owner: Map<string, Slot>, s: Slot): void {
    if (owner.get(audience) !== s) return;
    this.#unindex(s);
    owner.delete(audience);
    if (owner.size === 0 && this.#byToken.get(tokenHash) === owner) this.#byToken.delete(tokenHash);
  }

  #bound(): void {
    // Map iteration is insertion order: the first key is the oldest inbound token
    while (this.#byToken.size > Math.max(1, this.#max)) {
      const oldest = this.#byToken.keys().next().value as string;
      for (const s of this.#byToken.get(oldest)!.values()) this.#unindex(s);
      this.#byToken.delete(oldest);
      this.#evictions++;
    }
  }
}
