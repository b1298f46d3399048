// Long-lived connections and the token each was authorized with: proxied WebSockets
// (indexed by every revocation key of their token, and by expiry second in a timer wheel)
// and streamed HTTP responses (scanned, not indexed, so the request path pays nothing).
// Each applied revocation — wherever in the cluster it was made — and each expiry ends them.
import type { RevokedEntry, TokenFacts, TokenState } from '../contracts/index.js';

/** Why a connection is ended: its token was revoked, expired, or revocations cannot be received (bus lost past fail_closed_after_ms). */
export type EndReason = 'revoked' | 'expired' | 'unverifiable';

/** A connection the registry may end. */
export interface LiveConnection {
  readonly facts: TokenFacts;
  /** When the connection must end, epoch seconds: its principal's `validUntil` (exp + clock skew). */
  readonly exp: number;
  /** Close it now. Called at most once, after the registry has already forgotten it. */
  end(reason: EndReason): void;
}

/** Judges one token: null = it may stay connected. */
export type LiveJudge = (facts: TokenFacts, exp: number) => EndReason | null;

/**
 * Connections kept elsewhere (the listener's in-flight relays): called on every applied
 * revocation and every tick with a judge and the one reason that judge can name (`revoked` only
 * on a revocation); ends what the judge names.
 */
export type LiveScanner = (judge: LiveJudge, reason: EndReason) => void;

export interface LiveRegistryOptions {
  /** Expiry resolution, ms; default 250 (exp has 1 s resolution). */
  tickMs?: number;
  /** Epoch ms clock (tests inject one). */
  now?: () => number;
}

export interface LiveRegistryStats {
  /** Indexed connections (WebSockets) right now. */
  readonly connections: number;
  readonly ended_revoked: number;
  readonly ended_expired: number;
  readonly ended_unverifiable: number;
}

/** Revocation kind → the TokenFacts fields it matches (cluster/protocol's RevocationKind; `token` matches either spelling's hash). */
const KEYS: ReadonlyArray<readonly [kind: string, field: keyof TokenFacts]> = [
  ['token', 'tokenHash'], ['token', 'twinHash'], ['jti', 'jti'], ['sub', 'sub'], ['client_id', 'clientId'], ['kid', 'kid'], ['sid', 'sid'],
];
const SEP = '\n';
/** Beyond this many seconds between ticks (a clock jump) the wheel is walked by key instead of by second. */
const MAX_STEP_S = 4096;

/** The wheel second at which a token expiring at `exp` is due (exp may be fractional); null = never. */
function wheelSlot(exp: number): number | null {
  return Number.isFinite(exp) ? Math.ceil(exp) : null;
}

/** The live-connection registry of one process. Synchronous; one per listener. */
export class LiveRegistry {
  private readonly byKey = new Map<string, Set<LiveConnection>>();
  private readonly wheel = new Map<number, Set<LiveConnection>>();
  private readonly all = new Set<LiveConnection>();
  private readonly scanners = new Set<LiveScanner>();
  private readonly tickHooks = new Set<(nowMs: number) => void>();
  private readonly now: () => number;
  private readonly tickMs: number;
  /** Last expiry second already processed. */
  private cursor: number;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private counts = { revoked: 0, expired: 0, unverifiable: 0 };

  private readonly revocationJudge: LiveJudge = (facts) => (this.tokenState !== null && this.tokenState.isRevoked(facts) ? 'revoked' : null);
  private expiryNowMs = 0;
  private readonly expiryJudge: LiveJudge = (_facts, exp) => (exp * 1000 <= this.expiryNowMs ? 'expired' : null);
  private readonly unverifiableJudge: LiveJudge = () => 'unverifiable';

  constructor(private readonly tokenState: TokenState | null, opts: LiveRegistryOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.tickMs = opts.tickMs ?? 250;
    this.cursor = Math.floor(this.now() / 1000);
  }

  /** Subscribe to revocations and start the expiry timer (unref'd). */
  start(): void {
    if (this.timer !== null) return;
    this.unsubscribe = this.tokenState?.onRevoked((r) => this.revoked(r)) ?? null;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  get size(): number {
    return this.all.size;
  }

  stats(): LiveRegistryStats {
    return { connections: this.all.size, ended_revoked: this.counts.revoked, ended_expired: this.counts.expired, ended_unverifiable: this.counts.unverifiable };
  }

  /** Would a connection with this token be ended right now? (Checked before upgrading.) */
  judge(facts: TokenFacts, exp: number): EndReason | null {
    if (this.tokenState !== null) {
      if (this.tokenState.isRevoked(facts)) return 'revoked';
      const g = this.tokenState.gate();
      if (!g.ok && g.reason === 'bus_lost') return 'unverifiable';
    }
    // to the millisecond, like token-rules' `exp <= now − skew` on the HTTP path
    return exp * 1000 <= this.now() ? 'expired' : null;
  }

  /**
   * Track `c` until remove() or until the registry ends it. Returns the reason instead of
   * tracking when it must be ended already (revoked or expired meanwhile): the caller ends it.
   */
  add(c: LiveConnection): EndReason | null {
    const why = this.judge(c.facts, c.exp);
    if (why !== null) return why;
    if (this.all.has(c)) return null;
    this.all.add(c);
    // a token the proxy minted is indexed by the keys of the inbound token it replaced too (TokenFacts.parent)
    for (let f: TokenFacts | undefined = c.facts; f !== undefined; f = f.parent) {
      for (const [kind, field] of KEYS) {
        const v = f[field];
        if (typeof v !== 'string' || v === '') continue;
        const k = kind + SEP + v;
        let s = this.byKey.get(k);
        if (s === undefined) this.byKey.set(k, (s = new Set()));
        s.add(c);
      }
    }
    const slot = wheelSlot(c.exp);
    if (slot !== null) {
      let b = this.wheel.get(slot);
      if (b === undefined) this.wheel.set(slot, (b = new Set()));
      b.add(c);
    }
    return null;
  }

  /** Forget `c` (it closed by itself). Safe to call twice. */
  remove(c: LiveConnection): void {
    if (!this.all.delete(c)) return;
    for (let f: TokenFacts | undefined = c.facts; f !== undefined; f = f.parent) {
      for (const [kind, field] of KEYS) {
        const v = f[field];
        if (typeof v !== 'string' || v === '') continue;
        const k = kind + SEP + v;
        const s = this.byKey.get(k);
        if (s !== undefined && s.delete(c) && s.size === 0) this.byKey.delete(k);
      }
    }
    const slot = wheelSlot(c.exp);
    const b = slot === null ? undefined : this.wheel.get(slot);
    if (b !== undefined && b.delete(c) && b.size === 0) this.wheel.delete(slot!);
  }

  /**
   * End `c` now for `reason`, counted like the tick's and a revocation's: a connection that noticed
   * its own expiry before the tick (a message at or after exp), or whose token a fresh check
   * refused. False when `c` is not tracked (nothing done).
   */
  endNow(c: LiveConnection, reason: EndReason): boolean {
    if (!this.all.has(c)) return false;
    this.endAll([c], reason);
    return true;
  }

  /** Scan connections kept elsewhere on every revocation and tick. Returns the unregister function. */
  addScanner(scan: LiveScanner): () => void {
    this.scanners.add(scan);
    return () => { this.scanners.delete(scan); };
  }

  /** Run `fn` on every tick (shared coarse timer for handshake deadlines). */
  onTick(fn: (nowMs: number) => void): () => void {
    this.tickHooks.add(fn);
    return () => { this.tickHooks.delete(fn); };
  }

  /** An applied revocation: end every connection whose token it now revokes. */
  revoked(r: RevokedEntry): void {
    if (this.tokenState === null) return;
    const field = KEYS.find(([kind]) => kind === r.kind);
    // an unknown kind: check everything (isRevoked knows what it matches); so for `kid`, which also
    // refuses tokens whose signing key is unknown (keyUnknown: not indexed by a kid) — kid revocations are rare
    // a sub holding `@` also revokes its other spellings in case (the store folds them): its connections are not indexed so
    const folds = (r.kind === 'sub' || r.kind === 'sub_without_sid') && r.value.includes('@');
    const candidates = field === undefined || r.kind === 'kid' || folds ? this.all : this.byKey.get(r.kind + SEP + r.value);
    if (candidates !== undefined && candidates.size > 0) {
      const hit: LiveConnection[] = [];
      for (const c of candidates) if (this.tokenState.isRevoked(c.facts)) hit.push(c);
      this.endAll(hit, 'revoked');
    }
    this.scan(this.revocationJudge, 'revoked');
  }

  /** Expire due connections; end everything when revocations cannot be received. Called by the timer; public for tests. */
  tick(nowMs: number = this.now()): void {
    const nowS = Math.floor(nowMs / 1000);
    if (this.tokenState !== null) {
      const g = this.tokenState.gate();
      if (!g.ok && g.reason === 'bus_lost') {
        this.endAll([...this.all], 'unverifiable');
        this.scan(this.unverifiableJudge, 'unverifiable');
      }
    }
    const due: LiveConnection[] = [];
    if (nowS > this.cursor) {
      if (nowS - this.cursor > MAX_STEP_S) {
        for (const [s, b] of this.wheel) if (s <= nowS) due.push(...b);
      } else {
        for (let s = this.cursor + 1; s <= nowS; s++) {
          const b = this.wheel.get(s);
          if (b !== undefined) due.push(...b);
        }
      }
      this.cursor = nowS;
    }
    // a fractional exp sits in the next second's slot (ceil): due at its instant, not at that second
    const next = this.wheel.get(nowS + 1);
    if (next !== undefined) for (const c of next) if (c.exp * 1000 <= nowMs) due.push(c);
    if (due.length > 0) this.endAll(due, 'expired');
    this.expiryNowMs = nowMs;
    this.scan(this.expiryJudge, 'expired');
    for (const fn of this.tickHooks) {
      try { fn(nowMs); } catch { /* a hook must not stop the expiry timer */ }
    }
  }

  private endAll(list: readonly LiveConnection[], reason: EndReason): void {
    for (const c of list) {
      if (!this.all.has(c)) continue;
      this.remove(c);
      this.counts[reason]++;
      try { c.end(reason); } catch { /* ending one must not keep the others open */ }
    }
  }

  private scan(judge: LiveJudge, reason: EndReason): void {
    if (this.scanners.size === 0) return;
    const counting: LiveJudge = (facts, exp) => {
      const r = judge(facts, exp);
      if (r !== null) this.counts[r]++;
      return r;
    };
    for (const s of this.scanners) {
      try { s(counting, reason); } catch { /* as above */ }
    }
  }
}
