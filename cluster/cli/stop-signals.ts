// The cluster demo's stop signals (SIGINT, SIGTERM, SIGHUP): one listener per signal for the whole
// run, whose action follows the phase — while starting, stop at once; once up, the graceful stop;
// while stopping, at once again. The listeners are never swapped (see watchStopSignals).

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = typeof STOP_SIGNALS[number];
/** Exit code after a signal ended the process: 128 + its number, as a shell reports it. */
export const SIGNAL_EXIT: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export interface StopSignals {
  /** Up: the next signal runs `graceful`, any later one `atOnce`. */
  up(graceful: (sig: StopSignal) => void): void;
  /** Stopping without a signal (`--exit`, a failed start): a signal now runs `atOnce`. */
  stopping(): void;
  /** Remove the listeners (the run is over; the process may end by itself). */
  release(): void;
}

/**
 * Listen for the stop signals from now on; until `up`, a signal runs `atOnce` (which must end the
 * process). The listener installed here is the one for the whole run: before, the start's listeners
 * were removed and the stop's added once the demo was up, and a signal that arrived between the
 * demo's last line and that swap — caught by the start's listener, not yet delivered to it — was
 * dropped with it: the demo never stopped (a CI run's Ctrl-C, on a loaded host, hung the test).
 */
export function watchStopSignals(atOnce: (sig: StopSignal) => void): StopSignals {
  let phase: 'starting' | 'up' | 'stopping' = 'starting';
  let graceful: ((sig: StopSignal) => void) | null = null;
  const on = (sig: StopSignal) => (): void => {
    if (phase !== 'up' || graceful === null) { atOnce(sig); return; }
    phase = 'stopping';
    graceful(sig);
  };
  const listeners = STOP_SIGNALS.map((sig) => [sig, on(sig)] as const);
  for (const [sig, l] of listeners) process.on(sig, l);
  return {
    up(g): void { graceful = g; phase = 'up'; },
    stopping(): void { phase = 'stopping'; },
    release(): void { for (const [sig, l] of listeners) process.off(sig, l); },
  };
}
