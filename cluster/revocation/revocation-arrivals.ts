// Accounting of revocations that arrived from other members, per path (the live NATS message,
// the direct push, the receiver thread's ring): arrivals with duplicates, first arrivals, and
// two delays from the origin's publish stamp — to visible (every check sees it) and to applied here.
import { DelayHistogram } from './delay-histogram.js';
import type { ArrivalPath } from './revocation-actor-contract.js';
import { wallNow } from './revocation-time.js';

type LivePath = Exclude<ArrivalPath, 'replay'>;
/** The path that applied a revocation first: a live path, or the stream when its consumer won while live. */
type FirstPath = LivePath | 'stream';

/** Counters and histograms for /metrics; the actor calls it inside its mailbox. */
export class RevocationArrivals {
  private readonly applied = new DelayHistogram();
  private readonly visible = new DelayHistogram();
  private readonly counters: Record<string, number> = {
    revocations_arrived_live_total: 0, revocations_arrived_direct_total: 0, revocations_arrived_thread_total: 0, revocations_arrived_primary_total: 0,
    revocations_first_live_total: 0, revocations_first_direct_total: 0, revocations_first_thread_total: 0, revocations_first_primary_total: 0, revocations_first_stream_total: 0,
  };

  /** Any copy from another member (duplicates included). */
  arrived(via: LivePath): void {
    this.counters[`revocations_arrived_${via}_total`]!++;
  }

  /** The copy that was applied here first came this way (`stream`: the stream's consumer, while live, beat the live paths). */
  first(via: FirstPath): void {
    this.counters[`revocations_first_${via}_total`]!++;
  }

  /**
   * The delays of a first application from another member. `publishedAt`: the origin's stamp
   * (0: none, nothing recorded); `visibleAt`: when the receiver thread made it visible (default: now, the apply).
   */
  record(publishedAt: number, visibleAt?: number): void {
    if (publishedAt <= 0) return;
    const now = wallNow();
    this.applied.record(now - publishedAt);
    this.visible.record((visibleAt ?? now) - publishedAt);
  }

  /** Flat metrics: the counters, `revocation_propagation_ms_*` (publish → applied) and `revocation_visible_ms_*` (publish → visible). */
  stats(): Record<string, number> {
    return { ...this.counters, ...this.applied.stats('revocation_propagation_ms'), ...this.visible.stats('revocation_visible_ms') };
  }
}
