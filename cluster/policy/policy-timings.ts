// Where one policy version's time goes at this instance (README "Cluster policy"): the stage
// timings logged with "policy applied", in ms, and the event loop's longest delay while the
// version was processed (`loop_max_ms`: what requests waiting behind the work felt).
// `delivery_ms` runs from the pusher's clock (pushedAt, before its put) to this one's:
// meaningful on one host or with synced clocks.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Epoch ms with sub-ms precision. */
export const nowMs = (): number => performance.timeOrigin + performance.now();
/** Rounded to 0.1 ms for the log. */
export const ms = (x: number): number => Math.round(x * 10) / 10;
/** Resolution of the event-loop delay watched while a version is processed, ms. */
const LOOP_RESOLUTION_MS = 10;

/** The timings of the version being processed: one at a time (the watcher's drain). */
export class VersionTimings {
  stages: Record<string, number> = {};
  private loop: IntervalHistogram | null = null;

  /** A version starts being processed: stages cleared, the loop's delay watched. */
  begin(): void {
    this.end();
    this.stages = {};
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
  }

  /** Processing ended (without report: the version was not applied). */
  end(): void {
    this.loop?.disable();
    this.loop = null;
  }

  /** `log` the stages with `loop_max_ms`, once the loop's timer has run after the swap (a block that ended with the swap counts too). */
  report(log: (stages: Record<string, number>) => void): void {
    const loop = this.loop;
    const stages = this.stages;
    this.loop = null;
    if (loop === null) { log(stages); return; }
    setTimeout(() => { loop.disable(); log({ ...stages, loop_max_ms: ms(loop.max / 1e6) }); }, LOOP_RESOLUTION_MS + 1);
  }
}
