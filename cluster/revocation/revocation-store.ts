// The revocation set of one process: O(1) lookups by jti, token hash, sub/client_id
// with a cut (tokens issued up to and including its second; `sub_without_sid`: only tokens without a `sid`),
// kid and sid (an OIDC session: every token carrying it; a sub holding `@` also by its folded spelling, subjectFold);
// idempotent apply keyed by
// revocation id; a coarse sweeper drops entries once every token they can match has expired (clock skew included).
// Bounded in entries and estimated bytes: a revocation beyond the bound is refused (`full`),
// never evicting another.
import type { TokenFacts } from '../../node/contracts/index.js';
import { isCutKind, type RevocationRecord } from '../protocol/messages.js';
import type { RevocationKind } from '../protocol/subjects.js';
import { DEFAULT_LINGER_S } from './revocation-linger.js';

/** `applied`: new; `duplicate`: id already known; `expired`: nothing left to match, not stored; `full`: over the store's bound, not stored. */
export type ApplyResult = 'applied' | 'duplicate' | 'expired' | 'full';

/** Bounds of the store (defaults: unbounded; the cluster passes `cluster.revocation.max_entries`/`max_bytes`) and its linger. */
export interface StoreLimits {
  readonly maxEntries?: number;
  /** By `revocationBytes`' estimate. */
  readonly maxBytes?: number;
  /**
   * Seconds an entry stays past its `expiresAt` (default LINGER_S, 120 s; the cluster passes
   * `lingerFor(running config)`). Read at every apply, list and sweep and never lowered: a reload
   * or policy version that raises an issuer's `clock_skew_s` keeps the entries already held longer.
   */
  readonly lingerS?: () => number;
  /** Period of `startSweeper()`'s sweep, ms (default 60 000; the cluster passes `cluster.revocation.sweep_interval_s`). */
  readonly sweepIntervalMs?: number;
  /**
   * Monotonic clock, ms (the cluster passes performance.now; default none: entries expire by `now` alone). Given,
   * entries expire by the wall clock held back to the monotonic clock's reckoning of it (keepNow): a wall
   * clock stepped forward sweeps nothing early, so a revoked token is still refused when a step back follows.
   */
  readonly mono?: () => number;
  /**
   * A least wall − `mono` offset already known, ms (a worker: its primary's, node/contracts/wall-offset.ts; default
   * none): a store built while the wall clock is stepped forward does not take the step for the offset.
   */
  readonly knownOffsetMs?: number;
}

/** Fixed heap cost of one entry besides its strings: the record, its slots in two maps. Measured ≈ 700 B on Node 20 (50 000 short jti entries: 765 B each). */
const ENTRY_OVERHEAD_BYTES = 700;

/** Estimated heap bytes of one stored revocation: the overhead plus every string (the scoped key again); errs high for long strings. */
export function revocationBytes(r: RevocationRecord): number {
  const scoped = r.issuer === null ? 0 : r.issuer.length + r.value.length + 1;
  // a folded sub is kept under a second key (its folded spelling, scoped like the first)
  const folded = foldsCase(r.kind) && r.value.includes('@') ? r.value.length + scoped : 0;
  return ENTRY_OVERHEAD_BYTES + r.id.length + r.value.length + (r.issuer?.length ?? 0) + (r.reason?.length ?? 0) + r.origin.length + scoped + folded;
}

type FoldKind = 'sub' | 'sub_without_sid';
const foldsCase = (kind: string): kind is FoldKind => kind === 'sub' || kind === 'sub_without_sid';

/**
 * The spelling a `sub` holding `@` (an email address as the user's id, or a revocation from an email subject)
 * is also matched by: Unicode NFC, lower case — the whole value, local part too. Identity providers compare
 * email addresses without case, and a transmitter's `Heidi@Example.com` and the token's `heidi@example.com`
 * are one user: before, such a revocation matched nothing (fail closed: it may also match a distinct user
 * whose address differs only in case — a second revocation, never a missed one).
 */
export function subjectFold(value: string): string {
  return value.normalize('NFC').toLowerCase();
}

/**
 * The cut for one sub or client_id: tokens with `iat` ≤ `before` (epoch s) are revoked. Inclusive
 * because `iat` has whole seconds: a revocation made at 12:00:00.7 must also refuse a token issued
 * at 12:00:00.2, so the whole second is covered (a token issued later in that same second too —
 * the closed choice). The latest `before` wins, the longest expiry is kept.
 */
interface Cut {
  rec: RevocationRecord;
  before: number;
  expiresAt: number;
}

/**
 * How long an entry stays past its `expiresAt` by default, s: a token is accepted until its `exp` plus its
 * issuer's clock skew (60 s by default), and one revoked at T may carry an `iat` up to the skew ahead
 * of T — an entry dropped at its expiry let such a token through again. Twice the default skew; a
 * config with a larger `clock_skew_s` raises it (StoreLimits.lingerS, revocation-linger.ts).
 */
export const LINGER_S = DEFAULT_LINGER_S;

/** Separator between issuer and value in scoped keys (cannot occur in an `iss` URL). */
const SEP = '\n';

/** The folded key of a sub revocation holding `@`. */
const foldedKey = (r: RevocationRecord): string => (r.issuer === null ? subjectFold(r.value) : r.issuer + SEP + subjectFold(r.value));

/** Merge a cut into `m` under `key`: the latest `before` wins, the longest expiry is kept. */
function mergeCut(m: Map<string, Cut>, key: string, r: RevocationRecord, before: number): void {
  const c = m.get(key);
  if (c === undefined) m.set(key, { rec: r, before, expiresAt: r.expiresAt });
  else {
    if (before > c.before) { c.before = before; c.rec = r; }
    c.expiresAt = Math.max(c.expiresAt, r.expiresAt);
  }
}

/** The revocation set. Read synchronously on the hot path; written only by the revocation actor. */
export class RevocationStore {
  private readonly byId = new Map<string, RevocationRecord>();
  private readonly exact: Record<'jti' | 'token' | 'kid' | 'sid', Map<string, RevocationRecord>> = { jti: new Map(), token: new Map(), kid: new Map(), sid: new Map() };
  private readonly cuts: Record<'sub' | 'client_id' | 'sub_without_sid', Map<string, Cut>> = { sub: new Map(), client_id: new Map(), sub_without_sid: new Map() };
  /** Cuts of subs holding `@`, by their folded spelling (subjectFold, scoped as in `cuts`): one may merge several records. */
  private readonly folded: Record<FoldKind, Map<string, Cut>> = { sub: new Map(), sub_without_sid: new Map() };
  private readonly listeners = new Set<(r: RevocationRecord) => void>();
  private sweeper: NodeJS.Timeout | null = null;
  private swept = 0;
  private bytes = 0;
  private refusedFull = 0;
  private forcedSweepAt = Number.NEGATIVE_INFINITY;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly lingerSource: (() => number) | null;
  private readonly sweepIntervalMs: number;
  private lingerMax = LINGER_S;
  private readonly mono: (() => number) | null;
  /** The least wall − monotonic difference seen, ms: a step back lowers it, a step forward never raises it. */
  private minOffset = Number.POSITIVE_INFINITY;
  /**
   * Per entry (with a monotonic clock), the epoch ms it was applied at — the wall clock, or its origin's `createdAt`
   * when earlier — less the monotonic clock then: a full store's fallback sweep (hasRoom) counts its life from there.
   */
  private readonly appliedOffset = new Map<string, number>();

  /** `now`: epoch ms clock (tests inject one); `limits`: bounds (default none). */
  constructor(private readonly now: () => number = Date.now, limits: StoreLimits = {}) {
    this.maxEntries = limits.maxEntries ?? Number.POSITIVE_INFINITY;
    this.maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
    this.lingerSource = limits.lingerS ?? null;
    this.sweepIntervalMs = limits.sweepIntervalMs ?? 60_000;
    this.mono = limits.mono ?? null;
    if (this.mono !== null && limits.knownOffsetMs !== undefined && limits.knownOffsetMs < this.minOffset) this.minOffset = limits.knownOffsetMs;
    // the two clocks' offset learnt now: a first read after a step would take the step for the offset
    if (this.mono !== null) this.keepNow();
  }

  /**
   * Epoch ms that entries expire by: the wall clock, never ahead of where the monotonic clock puts it
   * (the least wall − monotonic offset seen). An entry is dropped only once both clocks say it expired —
   * a refusal is kept the longer way (a step back keeps entries for the step; harmless, bounded).
   */
  private keepNow(): number {
    const wall = this.now();
    if (this.mono === null) return wall;
    const m = this.mono();
    if (wall - m < this.minOffset) this.minOffset = wall - m;
    return m + this.minOffset;
  }

  /** Seconds an entry stays past its `expiresAt` now: the largest the source has given (never lowered), at least LINGER_S. */
  lingerS(): number {
    if (this.lingerSource !== null) {
      const s = this.lingerSource();
      if (Number.isFinite(s) && s > this.lingerMax) this.lingerMax = s;
    }
    return this.lingerMax;
  }

  /**
   * Add a revocation. Idempotent on `id`; an already-expired one is not stored; one that does
   * not fit the bounds (after sweeping expired entries) is refused with `full` — the caller
   * must make that loud. Listeners run for `applied` only.
   */
  apply(r: RevocationRecord): ApplyResult {
    if (this.byId.has(r.id)) return 'duplicate';
    if ((r.expiresAt + this.lingerS()) * 1000 <= this.keepNow()) return 'expired';
    if (!this.hasRoom(r)) { this.refusedFull++; return 'full'; }
    this.byId.set(r.id, r);
    // a wall clock stepped ahead of the origin's (a bad NTP source, to be undone) is not taken for the real time
    if (this.mono !== null) this.appliedOffset.set(r.id, Math.min(this.now(), r.createdAt) - this.mono());
    this.bytes += revocationBytes(r);
    const key = r.issuer === null ? r.value : r.issuer + SEP + r.value;
    if (isCutKind(r.kind)) {
      const before = r.before ?? Math.floor(r.createdAt / 1000);
      mergeCut(this.cuts[r.kind], key, r, before);
      if (foldsCase(r.kind) && r.value.includes('@')) mergeCut(this.folded[r.kind], foldedKey(r), r, before);
    } else {
      const m = this.exact[r.kind];
      const prev = m.get(key);
      if (prev === undefined || prev.expiresAt < r.expiresAt) m.set(key, r);
    }
    for (const l of this.listeners) {
      try { l(r); } catch { /* an evicting cache must not undo a revocation */ }
    }
    return 'applied';
  }

  /** Would `r` fit? Sweeps expired entries first when it would not. */
  hasRoom(r: RevocationRecord): boolean {
    const fits = (): boolean => this.byId.size + 1 <= this.maxEntries && this.bytes + revocationBytes(r) <= this.maxBytes;
    if (fits()) return true;
    // O(n): at most once a second, so a flood against a full store stays cheap
    // paced on the monotonic clock when there is one: a wall clock stepped back held forced sweeps off for the step
    const now = this.mono?.() ?? this.now();
    if (now - this.forcedSweepAt < 1_000) return false;
    this.forcedSweepAt = now;
    this.sweep();
    if (fits()) return true;
    // still full: entries expired by the wall clock and by the monotonic clock counted from their own apply go too.
    // The held-back clock (keepNow) lags the wall for the rest of the run after a lasting step forward (a suspend,
    // NTP correcting a clock that was behind): before, a store filled with entries applied since then refused every
    // new revocation (507; a member fed by the bus failed closed) for the length of the step. An entry applied
    // before a step forward that is later undone is not one of them: its monotonic life is still running; nor is
    // one applied during it that its origin made with a right clock (its life counts from the earlier createdAt).
    if (this.mono !== null) this.sweepBy(this.now() / 1000 - this.lingerS(), this.mono() / 1000 - this.lingerS());
    return fits();
  }

  /** The bounds and the current estimate, for messages and /readyz. */
  limits(): { readonly maxEntries: number; readonly maxBytes: number; readonly bytes: number } {
    return { maxEntries: this.maxEntries, maxBytes: this.maxBytes, bytes: this.bytes };
  }

  /** The applied revocation with this id (not yet swept), or undefined. */
  get(id: string): RevocationRecord | undefined {
    return this.byId.get(id);
  }

  /** True when this revocation id was applied (and not yet swept). */
  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** O(1): is this token revoked by any entry? */
  isRevoked(t: TokenFacts): boolean {
    return this.byId.size !== 0 && this.match(t) !== undefined;
  }

  /** The entry that revokes this token (for the denial log), or undefined. */
  match(t: TokenFacts): RevocationRecord | undefined {
    if (this.byId.size === 0) return undefined;
    // an ECDSA token's twin spelling (TokenFacts.twinHash) is the same token: either hash revokes it
    const hit = this.exact.token.get(t.tokenHash) ?? (t.twinHash === undefined ? undefined : this.exact.token.get(t.twinHash));
    if (hit !== undefined) return hit;
    return this.exactHit('jti', t.jti, t.iss) ?? this.exactHit('kid', t.kid, t.iss) ?? this.cutHit('sub', t.sub, t.iss, t.iat) ?? this.cutHit('client_id', t.clientId, t.iss, t.iat)
      ?? this.exactHit('sid', t.sid, t.iss)
      // a session logout that named the user: its tokens that carry no session cannot be told apart, so they go too
      ?? (t.sid === undefined ? this.cutHit('sub_without_sid', t.sub, t.iss, t.iat) : undefined)
      ?? (t.keyUnknown === true ? this.anyKid(t.iss) : undefined)
      // a token the proxy minted dies with the inbound token it replaced (depth bounded by parentFacts)
      ?? (t.parent === undefined ? undefined : this.match(t.parent));
  }

  /** Live entries (lingering ones included), oldest first. */
  list(kind?: RevocationKind): RevocationRecord[] {
    const nowS = this.keepNow() / 1000 - this.lingerS();
    const out: RevocationRecord[] = [];
    for (const r of this.byId.values()) if (r.expiresAt > nowS && (kind === undefined || r.kind === kind)) out.push(r);
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Called after each newly applied revocation (evict caches here). Returns the unsubscribe function. */
  onRevoked(listener: (r: RevocationRecord) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Drop every entry whose `expiresAt` has passed by the linger (`lingerS()`); returns how many went. */
  sweep(): number {
    return this.sweepBy(this.keepNow() / 1000 - this.lingerS());
  }

  /**
   * Drop every entry whose `expiresAt` is at or before `nowS` (epoch s); returns how many went. `monoS`
   * (monotonic s, less the linger): only exact entries also expired by it, counted from their apply (appliedOffset).
   */
  private sweepBy(nowS: number, monoS?: number): number {
    let n = 0;
    for (const [id, r] of this.byId) {
      if (r.expiresAt > nowS) continue;
      // the fallback leaves cuts (sub, client_id, sub_without_sid) alone: one merges the records under its key, some may still be live
      if (monoS !== undefined && (isCutKind(r.kind) || r.expiresAt > monoS + (this.appliedOffset.get(id) ?? Number.POSITIVE_INFINITY) / 1000)) continue;
      this.byId.delete(id);
      this.appliedOffset.delete(id);
      this.bytes -= revocationBytes(r);
      n++;
      const key = r.issuer === null ? r.value : r.issuer + SEP + r.value;
      if (isCutKind(r.kind)) {
        const c = this.cuts[r.kind].get(key);
        if (c !== undefined && c.expiresAt <= nowS) this.cuts[r.kind].delete(key);
        if (foldsCase(r.kind) && r.value.includes('@')) {
          const fk = foldedKey(r);
          const f = this.folded[r.kind].get(fk);
          if (f !== undefined && f.expiresAt <= nowS) this.folded[r.kind].delete(fk);
        }
      } else if (this.exact[r.kind].get(key) === r) {
        this.exact[r.kind].delete(key);
      }
    }
    this.swept += n;
    return n;
  }

  /** Sweep every `intervalMs` (default the limits' `sweepIntervalMs`, 60 s) on an unref'd timer. */
  startSweeper(intervalMs = this.sweepIntervalMs): void {
    if (this.sweeper !== null) return;
    this.sweeper = setInterval(() => this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Entry counts per kind and the sweep total. */
  stats(): Record<string, number> {
    const by: Record<string, number> = { jti: 0, token: 0, sub: 0, client_id: 0, kid: 0, sid: 0, sub_without_sid: 0 };
    for (const r of this.byId.values()) by[r.kind]!++;
    const out: Record<string, number> = {
      revocations_entries: this.byId.size, revocations_swept_total: this.swept, revocations_bytes_estimate: this.bytes, revocations_refused_full_total: this.refusedFull,
      revocations_linger_seconds: this.lingerS(),
    };
    for (const [k, v] of Object.entries(by)) out[`revocations_entries_${k}`] = v;
    return out;
  }

  private exactHit(kind: 'jti' | 'kid' | 'sid', value: string | undefined, iss: string | undefined): RevocationRecord | undefined {
    if (value === undefined) return undefined;
    const m = this.exact[kind];
    if (m.size === 0) return undefined;
    return m.get(value) ?? (iss === undefined ? undefined : m.get(iss + SEP + value));
  }

  /** A live `kid` revocation of issuer `iss` or of every issuer (a token whose signing key is unknown); kid revocations are few. */
  private anyKid(iss: string | undefined): RevocationRecord | undefined {
    for (const r of this.exact.kid.values()) if (r.issuer === null || r.issuer === iss) return r;
    return undefined;
  }

  private cutHit(kind: 'sub' | 'client_id' | 'sub_without_sid', value: string | undefined, iss: string | undefined, iat: number | undefined): RevocationRecord | undefined {
    if (value === undefined) return undefined;
    const m = this.cuts[kind];
    if (m.size === 0) return undefined;
    const c = m.get(value);
    if (c !== undefined && (iat === undefined || iat <= c.before)) return c.rec;
    const s = iss === undefined ? undefined : m.get(iss + SEP + value);
    if (s !== undefined && (iat === undefined || iat <= s.before)) return s.rec;
    // folding only when an `@` sub is revoked and this token's sub holds one: other tokens pay nothing
    if (kind === 'client_id' || this.folded[kind].size === 0 || !value.includes('@')) return undefined;
    const fm = this.folded[kind];
    const v = subjectFold(value);
    const fc = fm.get(v);
    if (fc !== undefined && (iat === undefined || iat <= fc.before)) return fc.rec;
    const fs = iss === undefined ? undefined : fm.get(iss + SEP + v);
    return fs !== undefined && (iat === undefined || iat <= fs.before) ? fs.rec : undefined;
  }
}
