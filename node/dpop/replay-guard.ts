// The replay check of DPoP proofs: the local cache first (a replay at the same instance is
// refused without any I/O), then the key's owner in the cluster, which checks-and-sets
// atomically for everyone (strict: no race window between instances). When the owner
// cannot be asked, the local answer stands and the fallback is counted (see README, DPoP). Right
// after the bus connected, while the owner is not known yet, the check waits for it.
import type { ReplayPeers, ReplayVerdict } from '../contracts/index.js';
import type { ReplayCache } from './replay-cache.js';

/** Counters of the guard (the cache has its own). */
export interface ReplayGuardStats {
  owner_asked: number;
  owner_refused: number;
  /** Owner unreachable: the local cache decided alone. */
  fallback_local: number;
  /** Held until the member view converged (the bus connected moments ago): the owner was not known yet. */
  owner_waited: number;
}

/** Local cache plus, when in a cluster, the owner's verdict. */
export class ReplayGuard {
  private readonly counters: ReplayGuardStats = { owner_asked: 0, owner_refused: 0, fallback_local: 0, owner_waited: 0 };

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
    const wait = peers.ownersKnown?.() ?? null;
    if (wait === null) return this.atOwner(peers, key, exp);
    // a view of one would make this member the owner of every key, and its peer too: both would accept the proof
    this.counters.owner_waited++;
    const again = (): Promise<ReplayVerdict> => {
      const w = peers.ownersKnown?.() ?? null;
      return w === null ? Promise.resolve(this.atOwner(peers, key, exp)) : w.then(again);
    };
    return wait.then(again);
  }

  /** The owner's verdict on a proof fresh here: this member's own when it owns the key. */
  private atOwner(peers: ReplayPeers, key: string, exp: number): ReplayVerdict | Promise<ReplayVerdict> {
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

  /** When the latest replay record this member could not read was signed, epoch ms (0: none, or no peers). */
  unreadableAt(): number {
    return this.peers?.unreadableAt?.() ?? 0;
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
