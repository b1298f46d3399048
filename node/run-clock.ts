// One clock reading per synchronous run of a native callback (a uWS request handler, an upstream
// socket read): the first caller inside a run reads performance.now(), the others reuse that reading,
// as HAProxy and nginx read the time once per event-loop wake-up. A clock read costs ~50 ns here (pinned micro, bench/RESULTS.md 13:11–14:00).

let depth = 0;
let reading = -1;

/**
 * performance.now(), ms — inside a run, the run's one reading (stale by the run's own work so far:
 * microseconds); outside every run, a fresh read each call.
 */
export function runNow(): number {
  if (depth === 0) return performance.now();
  if (reading < 0) reading = performance.now();
  return reading;
}

/** A run begins (nested runs share the outer one's reading). Pair with leaveRun() in a `finally`. */
export function enterRun(): void {
  if (depth++ === 0) reading = -1;
}

export function leaveRun(): void {
  if (--depth === 0) reading = -1;
}
