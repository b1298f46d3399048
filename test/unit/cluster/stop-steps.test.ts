// A stop run as watched steps (cluster/process/stop-steps.ts): a slow part is named while it runs,
// a failing step is reported and the rest still stop — what cluster-demo and serve print when a stop drags.
import { describe, expect, it } from 'vitest';
import { runStopSteps } from '../../../cluster/process/index.js';

describe('runStopSteps', () => {
  it('names the part still running past the bound, with its step, and ends once the part does', async () => {
    const lines: string[] = [];
    let told!: () => void;
    const named = new Promise<void>((resolve) => { told = resolve; });
    const run = runStopSteps([
      { name: 'instance 2', run: async (progress) => { progress('drain'); progress('bus connection'); await named; } },
    ], { slowMs: 20, report: (l) => { lines.push(l); if (l.includes('bus connection')) told(); }, hint: '; Ctrl-C again stops at once' });
    expect(run.current()).toBe("instance 2's bus connection");
    expect((await run.done).failed).toEqual([]);
    expect(lines[0]).toMatch(/^still stopping: instance 2's bus connection \(\d+ s\); Ctrl-C again stops at once$/);
    expect(run.current()).toBeNull();
  });

  it('reports a step that throws or rejects and still runs the steps after it', async () => {
    const lines: string[] = [];
    const ran: string[] = [];
    const run = runStopSteps([
      { name: 'instance 3', run: async (progress) => { progress('revocation actor'); throw new Error('store write failed'); } },
      { name: 'the echo upstream', run: () => { throw new Error('not listening'); } },
      { name: 'nats-server', run: () => { ran.push('nats-server'); } },
    ], { slowMs: 60_000, report: (l) => lines.push(l) });
    const out = await run.done;
    expect(ran).toEqual(['nats-server']);
    expect(out.failed).toEqual([
      { part: "instance 3's revocation actor", message: 'store write failed' },
      { part: 'the echo upstream', message: 'not listening' },
    ]);
    expect(lines).toEqual(["stop step failed: instance 3's revocation actor: store write failed", 'stop step failed: the echo upstream: not listening']);
  });
});
