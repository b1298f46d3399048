// Child processes a test file starts (proxies, CLI runs) die with it: a small detached watcher
// holds their pids and SIGKILLs those still running once this test process's pipe to it closes —
// however the process ends (file done, a failed test or hook that never stopped them, killed).
import { spawn, type ChildProcess } from 'node:child_process';

// The watcher: "+pid"/"-pid" lines on stdin; at its end, every pid still held is killed. A POSIX shell
// with builtins only (no process per line): a second node process per test file cost ~50 ms of CPU each,
// ~20 s over the suite on 2 cores.
const WATCHER = `pids=' '
while IFS= read -r l; do
  case $l in
    +*) pids="$pids\${l#+} " ;;
    -*) p=\${l#-}; case $pids in *" $p "*) pids="\${pids%% $p *} \${pids#* $p }" ;; esac ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done`;

let watcher: ChildProcess | null = null;
const live = new Set<ChildProcess>();

function send(line: string): void {
  if (watcher === null) {
    watcher = spawn('/bin/sh', ['-c', WATCHER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watcher.on('error', () => {});
    watcher.stdin!.on('error', () => {});
    // neither the watcher nor its pipe keeps this process alive
    watcher.unref();
    (watcher.stdin as unknown as { unref(): void }).unref();
  }
  watcher.stdin!.write(`${line}\n`);
}

/** Kill `proc` (SIGKILL) when this test process ends, unless it exited before. */
export function reap<P extends ChildProcess>(proc: P): P {
  if (proc.pid === undefined) return proc;
  const pid = proc.pid;
  live.add(proc);
  send(`+${pid}`);
  proc.once('exit', () => { live.delete(proc); send(`-${pid}`); });
  return proc;
}

/** SIGKILL every child registered here that is still running (test/setup.ts: after each file's own hooks). */
export function killLeftChildren(): void {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

process.once('exit', killLeftChildren);
