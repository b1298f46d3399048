// The one way a test waits for something: poll a condition until it holds, or fail naming what it
// waited for. `ms` is a bound, never a speed check: a pass waits as long as it takes, up to `ms`.

/** How `waitFor` polls and what it adds to its failure. */
export interface WaitOptions {
  /** Pause between polls, ms (default 20); 0 polls on every turn of the event loop (setImmediate). */
  everyMs?: number;
  /** Read when the wait fails and appended to the message (a process's output, the last answer…). */
  detail?: () => unknown;
}

/**
 * Poll `cond` until it returns true; resolves with the elapsed ms. Past `ms` (default 5 000) it throws
 * `timed out after <ms> ms waiting for <what>` (and `detail()` when given). An error thrown by `cond`
 * ends the wait at once with that error (a socket closed early is not worth waiting out).
 */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 5_000, opts: WaitOptions = {}): Promise<number> {
  const every = opts.everyMs ?? 20;
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > ms) {
      const detail = opts.detail === undefined ? '' : `\n${String(opts.detail())}`;
      throw new Error(`timed out after ${ms} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => (every === 0 ? setImmediate(r) : setTimeout(r, every)));
  }
  return performance.now() - t0;
}
