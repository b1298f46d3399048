// Where a token's signature check runs: inline on the event loop or on the verifier pool.
// `auto` decides per token from measurements taken once a second (event-loop utilisation,
// idle CPU on the host) and a budget of inline time per event-loop turn.
import { availableParallelism, cpus } from 'node:os';
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

/** Below this event-loop utilisation (0..1) the loop has time to spare: verify inline. */
export const LOW_LOOP_UTILISATION = 0.5;
/** A pool thread pays off only with at least this much idle CPU (cores) beside the event loop. */
export const SPARE_CORE = 1;

interface CpuSample { readonly idleMs: number; readonly at: number }

function cpuSample(): CpuSample {
  let idle = 0;
  for (const c of cpus()) idle += c.times.idle;
  return { idleMs: idle, at: performance.now() };
}

/**
 * The inline-vs-pool decision. In `auto` a token verifies inline when, over the last sample
 * period, the event loop was under LOW_LOOP_UTILISATION busy, or a pool thread had no core of
 * its own: this host has no more CPUs than proxy processes, or the idle CPU on the host plus
 * what this process spent off its event loop was under SPARE_CORE. Either way at most
 * `inlineBudgetUs` of inline verification per event-loop turn; past it, the pool. Until the first
 * sample the loop counts as idle (inline). Never throws; the sampler timer is unref'd.
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
  #cpu = cpuSample();
  #procUs = process.cpuUsage();
  inline = 0;
  pool = 0;
  spills = 0;
  /** Last sample: event-loop utilisation 0..1 and spare cores (idle + this process off-loop). */
  lastUtilisation = 0;
  lastSpareCores = 0;

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
    const cpu = cpuSample();
    const proc = process.cpuUsage();
    const wallMs = cpu.at - this.#cpu.at;
    if (wallMs <= 0) return;
    const idleCores = (cpu.idleMs - this.#cpu.idleMs) / wallMs;
    const procCores = ((proc.user - this.#procUs.user) + (proc.system - this.#procUs.system)) / 1000 / wallMs;
    this.#cpu = cpu;
    this.#procUs = proc;
    // CPU this process used beside its event loop (pool threads, libuv, GC) is available to a pool thread too
    const spare = Math.max(0, idleCores) + Math.max(0, procCores - elu.utilization);
    this.lastUtilisation = elu.utilization;
    this.lastSpareCores = spare;
    this.#preferInline = elu.utilization < LOW_LOOP_UTILISATION || spare < SPARE_CORE;
  };

  /** Stop sampling. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
