// tail-pair's paced loader in a process of its own (the default; PORTCULLIS_BENCH_PAIR_LOADER_PROCESS=0: in the bench): its V8 heap is
// then this module, undici and the samples (~10 MB live) instead of the whole CLI's (~26 MB), so a mark-compact's
// main-thread marking step — a pacer gap that holds both streams — is shorter. Parent and child talk over the fork IPC
// channel: run → (child) measure → (parent, counters started) go → (child) result.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compiledRoot } from './paths.js';
import { pinPid } from './processes.js';
import { runPairLoad, type PairLoadFlags, type PairLoadResult } from './tail-pair-load.js';

type ToChild = { cmd: 'run'; targetUrl: string; directUrl: string; flags: PairLoadFlags } | { cmd: 'go' };
type FromChild = { ev: 'measure' } | { ev: 'result'; result: PairLoadResult } | { ev: 'error'; message: string };

/**
 * `runPairLoad` in a forked child pinned (every thread) to `cpus`; `beforeMeasure` (given the child's pid, whose CPU
 * is then ours) runs here between the child's warm-up and its measured run. Extra Node flags for the child (e.g. --trace-gc) come from $PORTCULLIS_BENCH_PAIR_LOADER_ARGS
 * (space-separated). Rejects if the child fails or exits first; the child is gone when this settles.
 */
export function runPairLoadInChild(targetUrl: string, directUrl: string, f: PairLoadFlags, cpus: readonly number[], beforeMeasure?: (loaderPid: number) => Promise<void> | void): Promise<PairLoadResult> {
  const execArgv = (process.env.PORTCULLIS_BENCH_PAIR_LOADER_ARGS ?? '').split(' ').filter((s) => s !== '');
  const child = fork(join(compiledRoot(), 'bench', 'tail-pair-loader-process.js'), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (child.pid !== undefined) pinPid(child.pid, cpus);
  return new Promise<PairLoadResult>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | null, r?: PairLoadResult): void => {
      if (done) return;
      done = true;
      child.kill();
      if (err !== null) reject(err); else resolve(r!);
    };
    child.on('message', (m: FromChild) => {
      if (m.ev === 'measure') {
        Promise.resolve(beforeMeasure?.(child.pid ?? -1)).then(() => child.send({ cmd: 'go' } satisfies ToChild), (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))));
      } else if (m.ev === 'result') finish(null, m.result);
      else finish(new Error(`tail-pair loader: ${m.message}`));
    });
    child.on('exit', (code, signal) => finish(new Error(`tail-pair loader exited (${code ?? signal}) before its result`)));
    child.on('error', (e) => finish(e));
    child.send({ cmd: 'run', targetUrl, directUrl, flags: f } satisfies ToChild);
  });
}

function main(): void {
  let go: (() => void) | undefined;
  // the parent gone (killed bench): nothing left to report to
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'go') { go?.(); return; }
    runPairLoad(m.targetUrl, m.directUrl, m.flags, () => new Promise<void>((resolve) => { go = resolve; process.send!({ ev: 'measure' } satisfies FromChild); }))
      // no disconnect here: 'exit' may reach the parent before the last message; the parent kills this process once it has the result
      .then((result) => process.send!({ ev: 'result', result } satisfies FromChild), (e: unknown) => process.send!({ ev: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromChild));
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
