// The bus side of the DPoP replay check (ReplaySharing): each proof key has one owner,
// chosen by rendezvous hashing over the live serving members, that checks-and-sets it for
// the whole cluster (`dpop.claim` → `dpop.claimed`), then announces it (`dpop.seen`) so
// every member holds it locally and a replay stays refused when ownership moves (a member
// joins or leaves). The cluster wiring builds it; it implements node/contracts' ReplaySharing.
// Claims from the bus are bounded like local ones: an expiry further ahead than any proof
// can need is refused (counted), so a peer cannot pin entries in the replay cache. An authentic
// DPoP message this build cannot read (a newer build's) is reported to the stage, which refuses
// the proofs it could have recorded (README: a DPoP replay record this build cannot read).
import type { ReplayClaims, ReplayPeers, ReplaySharing, ReplayVerdict } from '../../node/contracts/index.js';
import type { Logger } from '../../node/log.js';
import type { BusMessage, MessageBus } from '../protocol/index.js';

export interface DpopReplaySyncOptions {
  readonly bus: MessageBus;
  /** This member's id (a valid subject token). */
  readonly self: string;
  /** Sorted ids of the live serving members, this one included (Membership.members). */
  readonly members: () => readonly string[];
  /** Owner of a key among members (cluster/cache-sync's rendezvousOwner). */
  readonly pickOwner: (key: string, members: readonly string[]) => string | null;
  readonly logger: Logger;
  /** How long until the member view can be trusted, ms (Membership.unsettledMs); 0 or absent: now. */
  readonly unsettledMs?: () => number;
  /** How long an owner that did not answer is skipped, ms (default 5 000). */
  readonly suspectMs?: number;
  /** Wall clock, epoch ms (expiries, signed times); default Date.now. */
  readonly now?: () => number;
  /** Monotonic clock, ms (how long an owner stays suspected); default performance.now. */
  readonly mono?: () => number;
}

/** Counters for metrics. */
export interface DpopReplaySyncStats {
  claims_served: number;
  claims_refused: number;
  seen_received: number;
  seen_sent: number;
  suspects: number;
  /** `dpop.claim`/`dpop.seen` with an expiry no proof can have: not recorded, not answered. */
  invalid_received: number;
  /** Authentic claims, announcements or verdicts this build could not read (a newer build's): proofs up to them refused. */
  unreadable_received: number;
}

/**
 * Furthest ahead a proof's replay entry can expire, s: its iat may be `iat_window_s` ahead and
 * it lives `iat_window_s` past its iat (the schema's maximum window is 600 s), plus 60 s of
 * clock skew between members.
 */
export const MAX_REPLAY_AHEAD_S = 2 * 600 + 60;

/** Cluster-wide replay check over the bus: one per cluster member. */
export class DpopReplaySync implements ReplaySharing {
  private readonly counters: DpopReplaySyncStats = { claims_served: 0, claims_refused: 0, seen_received: 0, seen_sent: 0, suspects: 0, invalid_received: 0, unreadable_received: 0 };
  private readonly suspects = new Map<string, number>();
  private readonly suspectMs: number;
  private readonly now: () => number;
  private readonly mono: () => number;
  private failuresLogged = 0;
  /** When the latest DPoP message this build could not read was signed, epoch ms (0: none). */
  private unreadableAt = 0;
  /** The one wait for the view to converge after the bus connected (null: none pending). */
  private settling: Promise<void> | null = null;

  constructor(private readonly opts: DpopReplaySyncOptions) {
    this.suspectMs = opts.suspectMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.mono = opts.mono ?? (() => performance.now());
  }

  attach(cache: ReplayClaims): ReplayPeers {
    const { bus, self } = this.opts;
    const nowS = (): number => Math.floor(this.now() / 1000);
    const announce = (key: string, exp: number): void => {
      this.counters.seen_sent++;
      try {
        bus.publish(bus.subjects.dpopSeen, { type: 'dpop.seen', v: 1, key, expiresAt: exp, origin: self });
      } catch { /* transport closing: the claim itself stands */ }
    };
    const plausible = (exp: number, subject: string, type: string): boolean => {
      if (exp <= nowS() + MAX_REPLAY_AHEAD_S) return true;
      this.counters.invalid_received++;
      bus.rejectInvalid(subject, type);
      return false;
    };
    const rpc = `${bus.subjects.prefix}.rpc.dpop.`;
    const unsubscribes = [
      bus.watchUnreadable((subject, signedAt) => {
        if (subject !== bus.subjects.dpopSeen && !subject.startsWith(rpc)) return;
        const at = signedAt ?? this.now();
        this.unreadable(subject, at);
        // as owner too: a peer's claim for a proof that could be the missing one is not answered "fresh"
        cache.lost?.(at);
      }),
      bus.subscribe(bus.subjects.dpopOwner(self), (m, incoming) => {
        if (m.type !== 'dpop.claim' || !plausible(m.expiresAt, incoming.subject, m.type)) return;
        const verdict = cache.claim(m.key, m.expiresAt, nowS());
        this.counters.claims_served++;
        if (verdict !== 'fresh') this.counters.claims_refused++;
        bus.respond(incoming, { type: 'dpop.claimed', v: 1, key: m.key, verdict });
        if (verdict === 'fresh') announce(m.key, m.expiresAt);
      }),
      bus.subscribe(bus.subjects.dpopSeen, (m, incoming) => {
        if (m.type !== 'dpop.seen' || m.origin === self || !plausible(m.expiresAt, incoming.subject, m.type)) return;
        this.counters.seen_received++;
        cache.claim(m.key, m.expiresAt, nowS());
      }),
    ];
    return {
      self,
      ownerOf: (key) => this.ownerOf(key),
      ownersKnown: () => this.ownersKnown(),
      ask: async (owner, key, exp, timeoutMs): Promise<ReplayVerdict> => {
        let reply: BusMessage;
        try {
          reply = await bus.request(bus.subjects.dpopOwner(owner), { type: 'dpop.claim', v: 1, key, expiresAt: exp, member: self }, timeoutMs);
        } catch (err) {
          this.failuresLogged++;
          if (this.failuresLogged === 1 || this.failuresLogged % 1000 === 0) {
            this.opts.logger.warn({ owner, code: (err as { code?: string }).code, failures: this.failuresLogged }, 'DPoP replay owner did not answer: judged on the local cache');
          }
          throw err;
        }
        if (reply.type !== 'dpop.claimed' || reply.key !== key) throw new Error('unexpected answer to dpop.claim');
        return reply.verdict;
      },
      announce,
      suspect: (owner) => {
        if (owner === self) return;
        this.counters.suspects++;
        this.suspects.set(owner, this.mono() + this.suspectMs); // monotonic: a wall clock stepped back kept the owner skipped for the step
      },
      stats: () => ({ ...this.counters }),
      unreadableAt: () => this.unreadableAt,
      detach: () => {
        for (const u of unsubscribes.splice(0)) {
          try { u(); } catch { /* the transport may be gone already */ }
        }
      },
    };
  }

  stats(): DpopReplaySyncStats {
    return { ...this.counters };
  }

  /**
   * A proof some member recorded (or asked about, or judged) in words this build cannot read: it is not
   * in this member's replay cache, so its replay would pass here. Told to the stage (unreadableAt), which
   * refuses every proof that could be it; counted, logged at the first and every 100th.
   */
  private unreadable(subject: string, signedAt: number): void {
    this.counters.unreadable_received++;
    if (signedAt > this.unreadableAt) this.unreadableAt = signedAt;
    const n = this.counters.unreadable_received;
    if (n === 1 || n % 100 === 0) {
      this.opts.logger.error({ subject, unreadable: n, signed_at: new Date(signedAt).toISOString() },
        'DPoP replay record this build cannot read (a newer build\'s kind or version?): proofs dated up to its window are refused with 503; upgrade this member');
    }
  }

  /** null when the view has heard its peers (or never can: no bus yet); else one shared timer until it has. */
  private ownersKnown(): Promise<void> | null {
    const ms = this.opts.unsettledMs?.() ?? 0;
    if (ms <= 0) return null;
    this.settling ??= new Promise<void>((resolve) => {
      setTimeout(() => { this.settling = null; resolve(); }, Math.ceil(ms)).unref();
    });
    return this.settling;
  }

  private ownerOf(key: string): string {
    let members = this.opts.members();
    if (this.suspects.size > 0) {
      const now = this.mono();
      for (const [m, until] of this.suspects) if (until <= now) this.suspects.delete(m);
      if (this.suspects.size > 0) members = members.filter((m) => !this.suspects.has(m));
    }
    // Not yet in our own view (first heartbeat pending) or alone: we decide.
    return this.opts.pickOwner(key, members) ?? this.opts.self;
  }
}
