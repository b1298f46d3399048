// A process's stop as named steps run one after another, watched: the part still running past a
// bound is said by name (and again at each further bound), a step that throws is reported and the
// rest still run — a stop that hangs or fails says where, instead of waiting for ever in silence.

/** A part of the stop past its allowance (the drain's: shutdown_delay_ms, drain_ms) this long is logged by name, again every further 10 s: 10 s. */
export const STOP_SLOW_MS = 10_000;
/** Closing after the drain (pools, threads, the bus) past this gives up, naming the part, and the process exits 1: 30 s. */
export const STOP_CLOSE_BOUND_MS = 30_000;

/** Told the part of a step now running ("drain", "bus connection"): what a slow-stop line names. */
export type StopProgress = (part: string) => void;

export interface StopStep {
  /** Who stops, e.g. "instance 2": a line reads "instance 2's bus connection". */
  readonly name: string;
  /** The step; may report its parts through `progress`. A throw or rejection is reported, not rethrown. */
  readonly run: (progress: StopProgress) => Promise<unknown> | unknown;
}

export interface StopWatch {
  /** A part still running this long is reported, and again at each multiple of it, ms. */
  readonly slowMs: number;
  /** Told `still stopping: <part> (<s> s)` and `stop step failed: <part>: <message>`. */
  readonly report: (line: string) => void;
  /** Appended to each slow-part line (e.g. how to stop at once). */
  readonly hint?: string;
  /** What a part (as `progress` named it) may take before `slowMs` starts counting, ms (default 0): a configured drain. */
  readonly allowMs?: (part: string) => number;
}

export interface StopOutcome {
  /** The parts that threw, with their messages, in order. */
  readonly failed: ReadonlyArray<{ readonly part: string; readonly message: string }>;
}

export interface StopRun {
  /** Settles once every step ended; never rejects. */
  readonly done: Promise<StopOutcome>;
  /** The part running now, null once every step ended: what a caller that gives up on the stop names. */
  current(): string | null;
}

/**
 * Run `steps` in order. Never rejects: a failed step is reported and counted in `failed`, and the
 * next one runs. One interval timer for the whole stop checks the running part (no timer per step).
 */
export function runStopSteps(steps: readonly StopStep[], watch: StopWatch): StopRun {
  const failed: Array<{ part: string; message: string }> = [];
  let part: string | null = null;
  let since = 0;
  let allowed = 0;
  let told = 0;
  const enter = (p: string, allow = 0): void => { part = p; since = performance.now(); allowed = allow; told = 0; };
  const tick = Math.max(10, Math.min(1_000, Math.floor(watch.slowMs / 4)));
  const timer = setInterval(() => {
    if (part === null) return;
    const ran = performance.now() - since;
    const over = ran - allowed;
    if (over < (told + 1) * watch.slowMs) return;
    told = Math.floor(over / watch.slowMs);
    watch.report(`still stopping: ${part} (${Math.round(ran / 1000)} s)${watch.hint ?? ''}`);
  }, tick);
  const current = (): string | null => part;
  const done = (async (): Promise<StopOutcome> => {
    for (const step of steps) {
      enter(step.name);
      try {
        await step.run((p) => enter(`${step.name}'s ${p}`, watch.allowMs?.(p) ?? 0));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        failed.push({ part: part!, message });
        watch.report(`stop step failed: ${part!}: ${message}`);
      }
    }
    part = null;
    clearInterval(timer);
    return { failed };
  })();
  return { done, current };
}
