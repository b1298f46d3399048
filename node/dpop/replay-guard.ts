// The replay check of DPoP proofs: the local cache first (a replay at the same instance is
// refused without any I/O), then the key's owner in the cluster, which checks-and-sets
// atomically for everyone (strict: no race window between instances). When the owner
// cannot be asked, the local answer stands and the fallback is counted (see README, DPoP).
import type { ReplayCache, ReplayVerdict } from './replay-cache.js';

/** The cluster side of the replay check, as this instance sees it (cluster wiring supplies it). */
export interface ReplayPeers {
  /** This member's id. */
  readonly self: string;
  /** The member owning `key` (rendezvous over the live serving members); `self` when alone. */
  ownerOf(key: string): string;
  /** Ask `owner` to claim `key`; rejects on a bus failure (timeout, no responder, disconnected). */
  ask(owner: string, key: string, exp: number, timeoutMs: number): Promise<ReplayVerdict>;
  /** Tell every member that `key` was claimed (the owner does it after a fresh claim). */
  announce(key: string, exp: number): void;
  /** Skip `owner` for a while (it did not answer): its keys are judged locally meanwhile. */
  suspect(owner: string): void;
  /** Stop serving claims and announcements. */
  detach(): void;
  /** Counters of the bus side (claims served, announcements…), for metrics. */
  stats?(): Readonly<Record<string, number>>;
}

/** Cluster-wide sharing: serve peers' claims from `cache` and return the link. */
export interface ReplaySharing {
  attach(cache: ReplayCache): ReplayPeers;
}

/** Counters of the guard (the cache has its own). */
export interface ReplayGuardStats {
  owner_asked: number;
  owner_refused: number;
  /** Owner unreachable: the local cache decided alone. */
  fallback_local: number;
}

/** Local cache plus, when in a cluster, the owner's verdict. */
export class ReplayGuard {
  private readonly counters: ReplayGuardStats = { owner_asked: 0, owner_refused: 0, fallback_local: 0 };

  constructor(readonly cache: ReplayCache, private readonly peers: ReplayPeers | null, private timeoutMs: number) {}

  setTimeout(ms: number): void {
    this.timeoutMs = ms;
  }

  /**
   * May the proof with `key`, refused by its iat after `exp` (epoch s), be used now? Synchronous
   * when decided locally (seen here, no peers, or owned here); else one bus round trip. Never rejects.
   */
  check(key: string, exp: number, nowS: number): ReplayVerdict | Promise<ReplayVerdict> {
    const local = this.cache.claim(key, exp, nowS);
    const peers = this.peers;
    if (local !== 'fresh' || peers === null) return local;
    const owner = peers.ownerOf(key);
    if (owner === peers.self) {
      peers.announce(key, exp);
      return 'fresh';
    }
    this.counters.owner_asked++;
    return peers.ask(owner, key, exp, this.timeoutMs).then((v) => {
      if (v !== 'fresh') this.counters.owner_refused++;
      return v;
    }, () => {
      // The DESIGN rule for a lost bus: serve on local state, count it; cluster.fail_closed_after_ms
      // turns a lasting loss into 503 at the gate for every request, this one included.
      this.counters.fallback_local++;
      peers.suspect(owner);
      return 'fresh' as const;
    });
  }

  stats(): ReplayGuardStats {
    return { ...this.counters };
  }

  /** The bus side's counters (empty without peers). */
  peerStats(): Readonly<Record<string, number>> {
    return this.peers?.stats?.() ?? {};
  }

  detach(): void {
    this.peers?.detach();
  }
}
