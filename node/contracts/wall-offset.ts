// The least wall − monotonic offset a primary has seen, handed to the workers it forks: the clock rules that
// hold the wall clock back to the monotonic one (DPoP replay memory, revocation store) start from it, so a
// worker replaced while the wall clock is stepped forward does not take the step for the clocks' offset.

/** The environment variable a forked worker reads: ms, wall − CLOCK_MONOTONIC (system-wide, unlike performance.now()). */
export const WALL_OFFSET_ENV = 'PORTCULLIS_WALL_OFFSET_MS';

/** CLOCK_MONOTONIC, ms (process.hrtime: the same in every process of the host). */
const systemMonoMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

/** The primary's record: the least offset of its start and of each fork (a step back lowers it, a step forward never raises it). */
export class WallOffsetWatch {
  private least = Number.POSITIVE_INFINITY;

  constructor() { this.sample(); }

  /** Read both clocks now; returns the least offset seen, ms. */
  sample(): number {
    const o = Date.now() - systemMonoMs();
    if (o < this.least) this.least = o;
    return this.least;
  }

  /** The environment for a worker about to be forked (sampled now). */
  env(): Record<string, string> {
    return { [WALL_OFFSET_ENV]: String(this.sample()) };
  }
}

/**
 * The offset handed down by the primary, in this process's performance.now() domain (wall − performance.now(), ms);
 * +Infinity when none was (a single process, or a value that is no number). Never throws.
 */
export function inheritedWallOffsetMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[WALL_OFFSET_ENV];
  const o = v === undefined || v === '' ? Number.NaN : Number(v);
  if (!Number.isFinite(o)) return Number.POSITIVE_INFINITY;
  // performance.now() = CLOCK_MONOTONIC − this process's origin: the same offset in its domain
  return o + (systemMonoMs() - performance.now());
}
