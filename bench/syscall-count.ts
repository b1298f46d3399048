// Syscalls per request of one target (a process and its children), counted with `strace -c -f -p PID` while a fixed
// number of requests runs through it: a figure other processes' load does not move (unlike rps and
// CPU µs/req), so a change that removes a syscall per request shows even on a shared machine.
// strace slows the process a lot while attached: never combined with a throughput measurement.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processTree } from './processes.js';

const STRACE = '/usr/bin/strace';
/** Waiting for strace to attach to every thread before the load starts (it gives no ready signal with -o). */
const ATTACH_MS = 700;

export interface SyscallCount {
  /** Every syscall counted (futex and epoll included), divided by the requests served. */
  perRequest: number;
  /** Calls per request of each syscall made at least 0.05 times per request, largest first. */
  bySyscall: Record<string, number>;
  requests: number;
  /**
   * Connections set up while counting: accept/accept4 calls (client side, a failed EAGAIN one included)
   * and connect calls (upstream side). Each costs a dozen syscalls (accept, fcntl, epoll_ctl, setsockopt,
   * close…) spread over the requests of the window: 64 of each in 3000 requests read as ~0.3 + ~0.3 per request.
   */
  setUp: { accepts: number; connects: number };
}

/** Pure: the call counts of a `strace -c` summary (`% time  seconds  usecs/call  calls  [errors]  syscall`). */
export function parseStraceSummary(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m !== null && m[2] !== 'total') out[m[2]!] = Number(m[1]);
  }
  return out;
}

/** Pure: per-request figures from the summary's counts and the requests served in the window. */
export function perRequest(calls: Record<string, number>, requests: number): SyscallCount {
  const by = Object.entries(calls).map(([k, v]) => [k, v / requests] as const).filter(([, v]) => v >= 0.05).sort((a, b) => b[1] - a[1]);
  return {
    perRequest: Object.values(calls).reduce((s, v) => s + v, 0) / requests,
    bySyscall: Object.fromEntries(by.map(([k, v]) => [k, Math.round(v * 100) / 100])),
    requests,
    setUp: { accepts: (calls.accept4 ?? 0) + (calls.accept ?? 0), connects: calls.connect ?? 0 },
  };
}

/**
 * Run `load` once unwatched, then attach strace to `pid` and every process below it (processTree:
 * the workers of `serve --workers N`; all threads of each), run `load` again (resolves with the
 * requests it completed), detach and count the sum. The first run opens the target's upstream
 * connections (our pool, HAProxy's idle ones), which its idle timeout (keep_alive_ms 4 s) closed
 * since the timed rounds: the count then holds the requests and their client connections only, for
 * every target alike, not a re-dialled pool (64 connects ≈ +0.25 syscalls per request in 3000) that
 * one target pays and another not, by the order of the rounds.
 * Resolves with a reason instead when strace is missing or cannot attach.
 */
export async function countSyscalls(pid: number, load: () => Promise<number>): Promise<SyscallCount | string> {
  if (!existsSync(STRACE)) return `${STRACE} not found (apt-get install strace)`;
  await load();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-strace-'));
  const file = join(dir, 'summary.txt');
  try {
    const st = spawn(STRACE, ['-c', '-f', '-q', '-o', file, ...processTree(pid).flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    st.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => st.on('exit', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, ATTACH_MS));
    if (st.exitCode !== null) return `strace could not attach to ${pid}: ${err.trim() || `exit ${st.exitCode}`}`;
    let requests: number;
    try {
      requests = await load();
    } finally {
      st.kill('SIGINT');
      await exited;
    }
    if (!existsSync(file)) return `strace wrote no summary: ${err.trim()}`;
    if (requests <= 0) return 'no request completed while strace was attached';
    return perRequest(parseStraceSummary(readFileSync(file, 'utf8')), requests);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
