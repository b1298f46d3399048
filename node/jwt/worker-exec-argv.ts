// The node flags a verifier worker thread starts with: the process's own flags that a
// thread accepts, plus `extra`. V8 flags (--max-old-space-size, --expose-gc, --trace-gc,
// --stack-size…) and process-wide ones are refused by `new Worker({ execArgv })` with
// ERR_WORKER_INVALID_EXEC_ARGV, which used to stop `node --max-old-space-size=… portcullis`.
import { Worker } from 'node:worker_threads';

/** Split argv into flag groups: a flag and the values that follow it (`--require x`). */
export function flagGroups(argv: readonly string[]): string[][] {
  const groups: string[][] = [];
  for (const a of argv) {
    if (a.startsWith('-') || groups.length === 0) groups.push([a]);
    else groups[groups.length - 1]!.push(a);
  }
  return groups;
}

/** True when a worker thread accepts these flags. Starts (and at once stops) a thread only when they are valid. */
function threadAccepts(flags: readonly string[]): boolean {
  try {
    const w = new Worker('', { eval: true, execArgv: [...flags], stdout: true, stderr: true });
    w.unref();
    void w.terminate();
    return true;
  } catch {
    return false; // ERR_WORKER_INVALID_EXEC_ARGV is thrown before any thread exists
  }
}

let memo: { key: string; argv: readonly string[] } | undefined;

/**
 * `own` (default process.execArgv) minus every flag group a worker thread refuses, then `extra`.
 * The check runs once per process and argv (one probe thread per accepted group; none when
 * `own` is empty); a refused group is dropped, not fatal — V8 flags apply process-wide anyway.
 */
export function threadExecArgv(extra: readonly string[], own: readonly string[] = process.execArgv): readonly string[] {
  const key = JSON.stringify([own, extra]);
  if (memo?.key === key) return memo.argv;
  const groups = flagGroups(own).filter((g) => !g[0]!.startsWith('--min-semi-space-size'));
  const whole = [...groups.flat(), ...extra];
  // the common case: everything is accepted (or there is nothing): one probe at most
  const argv = groups.length === 0 || threadAccepts(whole)
    ? whole
    : [...groups.filter((g) => threadAccepts(g)).flat(), ...extra];
  memo = { key, argv: Object.freeze(argv) };
  return memo.argv;
}
