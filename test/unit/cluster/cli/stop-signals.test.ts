// The cluster demo's stop signals (cluster/cli/stop-signals.ts): a Ctrl-C is never lost between the
// start and the graceful stop, and one while stopping ends the demo at once. SIGHUP stands in for the
// three (this worker has no listener of its own for it; each case removes its listeners).
import { describe, expect, it } from 'vitest';
import { watchStopSignals, type StopSignal } from '../../../../cluster/cli/stop-signals.js';
import { waitFor } from '../../../helpers/wait.js';

function watched(): { atOnce: StopSignal[]; graceful: StopSignal[]; s: ReturnType<typeof watchStopSignals> } {
  const atOnce: StopSignal[] = [];
  const graceful: StopSignal[] = [];
  return { atOnce, graceful, s: watchStopSignals((sig) => atOnce.push(sig)) };
}

describe('watchStopSignals', () => {
  it('a signal that arrives just as the demo comes up runs the graceful stop', async () => {
    const { atOnce, graceful, s } = watched();
    try {
      // delivered now, handed to its listener at the next turn of the event loop: the demo comes up
      // meanwhile. Before, coming up swapped the listeners and the signal went with the old one —
      // the demo's Ctrl-C was lost and it ran on (a CI run's cluster-demo test hung until its timeout)
      process.kill(process.pid, 'SIGHUP');
      s.up((sig) => graceful.push(sig));
      await waitFor('the signal to be handled', () => graceful.length + atOnce.length > 0, 5_000, { detail: () => 'the signal was lost' });
      expect({ atOnce, graceful }).toEqual({ atOnce: [], graceful: ['SIGHUP'] });
    } finally {
      s.release();
    }
  });

  it('stops at once while starting and on a second signal while stopping', async () => {
    const { atOnce, graceful, s } = watched();
    try {
      process.kill(process.pid, 'SIGHUP');
      await waitFor('the signal while starting', () => atOnce.length === 1, 5_000);
      s.up((sig) => graceful.push(sig));
      process.kill(process.pid, 'SIGHUP');
      await waitFor('the graceful stop', () => graceful.length === 1, 5_000);
      process.kill(process.pid, 'SIGHUP');
      await waitFor('the second signal', () => atOnce.length === 2, 5_000);
      expect({ atOnce, graceful }).toEqual({ atOnce: ['SIGHUP', 'SIGHUP'], graceful: ['SIGHUP'] });
    } finally {
      s.release();
    }
  });
});
