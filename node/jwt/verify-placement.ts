// Where a token's signature check runs: inline on the event loop or on the verifier pool.
// `auto` decides per token from the event loop's utilisation, measured once a second, and a
// budget of inline time per event-loop turn.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

/** `auto` = measured (see VerifyPlacement); `pool` = always a verifier thread; `inline` = always the event loop. */
export type VerifierMode = 'auto' | 'pool' | 'inline';

export interface PlacementOptions {
  mode: VerifierMode;
  /** Inline verification time allowed per event-loop turn in auto mode, µs; past it the turn's other tokens go to the pool. */
  inlineBudgetUs: number;
  /** Proxy processes on this host, each with its own event loop (serve --workers); default 1. */
  processes?: number;
  /** Sampling period of the auto decision, ms; default 1000. Tests shorten it. */
  sampleMs?: number;
}

/** At or above this event-loop utilisation (0..1) auto turns to the pool. */
export const LOW_LOOP_UTILISATION = 0.5;
/** Below this utilisation (measured while on the pool) auto turns back to inline: a gap, so a loop near 0.5 does not flip every second. */
export const BACK_INLINE_UTILISATION = 0.35;
/**
 * The inline-vs-pool decision. In `auto` a token verifies inline when, over the last sample
 * period, the event loop was under LOW_LOOP_UTILISATION busy (back from the pool: under
 * BACK_INLINE_UTILISATION; the hop to a thread costs more
 * than it frees, and adds latency), or when a pool thread can never have a core of its own (this
 * host has no more CPUs than proxy processes); otherwise — a busy loop on a host with cores for
 * the pool threads — the pool. Either way at most `inlineBudgetUs` of inline verification per
 * event-loop turn; past it, the pool. Until the first sample the loop counts as idle (inline).
 * Idle CPU on the host is deliberately not an input: on a saturated 2-core host the pool thread
 * still takes its share of the CPU beside the loop, and measured all-miss throughput was 0.84× the
 * pool's when a spare-CPU rule chose inline there (bench/RESULTS.md). Never throws; the sampler
 * timer is unref'd.
 */
export class VerifyPlacement {
  readonly mode: VerifierMode;
  readonly #budgetUs: number;
  /** A pool thread can never have a core of its own (CPUs ≤ processes): decided once. */
  readonly #noSpareCore: boolean;
  #preferInline = true;
  #spentUs = 0;
  #turnOpen = false;
  #timer: NodeJS.Timeout | null = null;
  #elu = performance.eventLoopUtilization();
  inline = 0;
  pool = 0;
  spills = 0;
  /** Last sample: event-loop utilisation 0..1. */
  lastUtilisation = 0;

  constructor(opts: PlacementOptions) {
    this.mode = opts.mode;
    this.#budgetUs = Math.max(0, opts.inlineBudgetUs);
    this.#noSpareCore = availableParallelism() <= Math.max(1, opts.processes ?? 1);
    if (this.mode === 'auto' && !this.#noSpareCore) {
      this.#timer = setInterval(this.#sample, opts.sampleMs ?? 1000);
      this.#timer.unref();
    }
  }

  /** True when the next token should verify on the event loop; counts the choice. */
  takeInline(): boolean {
    if (this.mode === 'pool') { this.pool++; return false; }
    if (this.mode === 'inline') { this.inline++; return true; }
    if (!this.#noSpareCore && !this.#preferInline) { this.pool++; return false; }
    if (this.#spentUs >= this.#budgetUs) { this.spills++; this.pool++; return false; }
    this.inline++;
    return true;
  }

  /** Account `us` of inline verification to the current event-loop turn (the budget resets after it). */
  spent(us: number): void {
    this.#spentUs += us;
    if (!this.#turnOpen) {
      this.#turnOpen = true;
      setImmediate(this.#endTurn);
    }
  }

  /** True while auto currently prefers inline (1 in stats); always true/false in fixed modes. */
  get prefersInline(): boolean {
    return this.mode === 'inline' || (this.mode === 'auto' && (this.#noSpareCore || this.#preferInline));
  }

  readonly #endTurn = (): void => {
    this.#turnOpen = false;
    this.#spentUs = 0;
  };

  readonly #sample = (): void => {
    const elu = performance.eventLoopUtilization(this.#elu);
    this.#elu = performance.eventLoopUtilization();
    this.lastUtilisation = elu.utilization;
    this.#preferInline = elu.utilization < (this.#preferInline ? LOW_LOOP_UTILISATION : BACK_INLINE_UTILISATION);
  };

  /** Stop sampling. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
