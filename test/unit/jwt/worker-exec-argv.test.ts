// Which node flags a verifier thread gets: the process's own, minus those a worker thread
// refuses (V8 and process-wide flags), plus the pool's own. Regression: a V8 flag on the
// command line (`node --max-old-space-size=512 portcullis …`) made the pool throw at start.
import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import { flagGroups, threadExecArgv } from '../../../node/jwt/worker-exec-argv.js';

/** Does a real worker thread start with these flags? (the check the product must pass) */
const startsWith = async (execArgv: readonly string[]): Promise<void> => {
  const w = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true, execArgv: [...execArgv] });
  await new Promise<void>((resolve, reject) => { w.once('message', () => resolve()); w.once('error', reject); });
  await w.terminate();
};

describe('threadExecArgv', () => {
  it('groups a flag with the values that follow it', () => {
    expect(flagGroups(['--require', 'a.js', '--expose-gc', '-r', 'b', '--x=1'])).toEqual([['--require', 'a.js'], ['--expose-gc'], ['-r', 'b'], ['--x=1']]);
    expect(flagGroups([])).toEqual([]);
  });

  it('drops the V8 and heap flags a thread refuses, keeps the ones it accepts, appends its own', async () => {
    const own = ['--max-old-space-size=512', '--enable-source-maps', '--expose-gc', '--stack-trace-limit=40', '--trace-gc', '--min-semi-space-size=16', '--conditions', 'portcullis-test'];
    const extra = ['--no-warnings'];
    const argv = threadExecArgv(extra, own);
    expect(argv).toEqual(['--enable-source-maps', '--conditions', 'portcullis-test', '--no-warnings']);
    // the raw list is what used to be passed: a thread refuses it
    expect(() => new Worker('', { eval: true, execArgv: [...own, ...extra] })).toThrow(/execArgv/);
    await startsWith(argv);
  });

  it('passes an accepted list through whole, and nothing but its own for an empty one', async () => {
    expect(threadExecArgv(['--no-warnings'], ['--enable-source-maps'])).toEqual(['--enable-source-maps', '--no-warnings']);
    expect(threadExecArgv(['--no-warnings'], [])).toEqual(['--no-warnings']);
    await startsWith(threadExecArgv([], ['--enable-source-maps']));
  });
});
