// Child processes of a bench run: spawn (optionally pinned to CPUs with taskset), wait for a
// readiness line or an open port, sample CPU time from /proc, stop with SIGTERM then SIGKILL.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export interface ManagedProcess {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** stdout + stderr so far (capped at the last 64 KiB). */
  output(): string;
  /** SIGTERM, SIGKILL after `graceMs` (default 5 s); resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions<T> {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** CPUs to pin the process to (taskset -c); ignored when taskset is missing. */
  cpus?: readonly number[];
  /** Called with every complete output line; the first non-undefined return means ready. Absent: ready once spawned. */
  ready?: (line: string, stream: 'stdout' | 'stderr') => T | undefined;
  /** Default 15 s; on timeout the process is killed and the start rejects with its output. */
  timeoutMs?: number;
}

const OUTPUT_CAP = 64 * 1024;

// Children still running; killed if the bench process exits without stopping them (a thrown
// error, process.exit), so no upstream or proxy outlives the run.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(proc: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const p of live) p.kill('SIGKILL'); });
  }
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}
const TASKSET = '/usr/bin/taskset';

export function hasTaskset(): boolean {
  return existsSync(TASKSET);
}

/** The argv that runs `command args` pinned to `cpus` (unchanged when there is nothing to pin). */
export function pinnedCommand(command: string, args: readonly string[], cpus: readonly number[] | undefined, taskset = hasTaskset()): { command: string; args: string[] } {
  if (cpus === undefined || cpus.length === 0 || !taskset) return { command, args: [...args] };
  return { command: TASKSET, args: ['-c', cpus.join(','), command, ...args] };
}

/** Parse a line as JSON and return it when `accept` says so: a `ready` matcher for JSON loggers. */
export function jsonLine<T = Record<string, unknown>>(accept: (obj: Record<string, unknown>) => boolean): (line: string) => T | undefined {
  return (line) => {
    const s = line.trim();
    if (!s.startsWith('{')) return undefined;
    try {
      const obj = JSON.parse(s) as Record<string, unknown>;
      return accept(obj) ? (obj as T) : undefined;
    } catch {
      return undefined;
    }
  };
}

/** Spawn a process and wait until it is ready; rejects (with its output) if it exits or times out first. */
export function startProcess<T = undefined>(opts: StartOptions<T>): Promise<{ process: ManagedProcess; ready: T }> {
  const { command, args } = pinnedCommand(opts.command, opts.args, opts.cpus);
  // taskset execs the command, so the pid is the target's own pid (for CPU sampling and signals).
  const proc = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  let out = '';
  const append = (s: string): void => {
    out += s;
    if (out.length > OUTPUT_CAP) out = out.slice(-OUTPUT_CAP);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
    proc.on('error', () => resolve({ code: null, signal: null }));
  });
  const managed: ManagedProcess = {
    name: opts.name,
    pid: proc.pid ?? -1,
    proc,
    output: () => out,
    exited,
    async stop(graceMs = 5_000) {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err !== undefined) {
        proc.kill('SIGKILL');
        reject(err);
      } else resolve({ process: managed, ready: value as T });
    };
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const timer = setTimeout(() => finish(new Error(`${opts.name} not ready within ${timeoutMs} ms (${command} ${args.join(' ')}):\n${out}`)), timeoutMs);
    const watch = (stream: 'stdout' | 'stderr'): void => {
      let partial = '';
      proc[stream]!.setEncoding('utf8');
      proc[stream]!.on('data', (chunk: string) => {
        append(chunk);
        if (done || opts.ready === undefined) return;
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const v = opts.ready(line, stream);
          if (v !== undefined) return finish(undefined, v);
        }
      });
    };
    watch('stdout');
    watch('stderr');
    proc.on('error', (err) => finish(new Error(`${opts.name}: cannot start ${command}: ${err.message}`)));
    proc.on('exit', (code, signal) => finish(new Error(`${opts.name} exited (code ${code}, signal ${signal}) before it was ready:\n${out}`)));
    if (opts.ready === undefined) proc.once('spawn', () => finish(undefined, undefined));
  });
}

/** A port that was free a moment ago on `host` (for servers that cannot listen on port 0 and report it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolve once host:port accepts a TCP connection; reject after `timeoutMs` or when `exited` settles first. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000, exited?: Promise<unknown>): Promise<void> {
  let gone = false;
  void exited?.then(() => { gone = true; });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw new Error(`process exited before ${host}:${port} opened`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

/** User + nice + system CPU seconds of the whole machine so far (/proc/stat); undefined off Linux. */
export function machineBusySeconds(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user, nice, system. irq/softirq are left out: loopback networking lands there for our own
    // processes too; steal is the hypervisor's.
    return (f[0]! + f[1]! + f[2]!) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * Start watching for other processes' CPU use: the returned function gives the CPU (in cores,
 * averaged over the window) used by everything except this process and `pids`. On a shared
 * machine a value above ~0.1 means the window was disturbed. Undefined where /proc is missing.
 */
export function watchForeignCpu(pids: readonly number[]): () => number | undefined {
  const ours = (): number | undefined => {
    const self = process.cpuUsage();
    let sum = (self.user + self.system) / 1e6;
    for (const pid of pids) {
      const c = cpuSeconds(pid);
      if (c === undefined) return undefined;
      sum += c;
    }
    return sum;
  };
  const t0 = performance.now();
  const busy0 = machineBusySeconds();
  const ours0 = ours();
  return () => {
    const busy1 = machineBusySeconds();
    const ours1 = ours();
    const wallS = (performance.now() - t0) / 1000;
    if (busy0 === undefined || busy1 === undefined || ours0 === undefined || ours1 === undefined || wallS <= 0) return undefined;
    return Math.max(0, (busy1 - busy0) - (ours1 - ours0)) / wallS;
  };
}

/**
 * `pid` and every process descending from it (`/proc/<pid>/task/<tid>/children`, recursively):
 * a `serve --workers N` primary and its workers. Just `[pid]` where /proc cannot tell.
 */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tids: string[];
    try { tids = readdirSync(`/proc/${out[i]}/task`); } catch { continue; }
    for (const tid of tids) {
      let kids: string;
      try { kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8'); } catch { continue; }
      for (const k of kids.split(' ')) if (k.trim() !== '') out.push(Number(k));
    }
  }
  return out;
}

function ownCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces); utime is field 14.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * User + system CPU seconds a process has used so far: all its threads and every live descendant
 * process (processTree: a primary and its `--workers`), so a multi-process proxy is charged in
 * full. Undefined if /proc cannot tell for `pid` itself; a descendant that vanished counts 0.
 */
export function cpuSeconds(pid: number): number | undefined {
  const own = ownCpuSeconds(pid);
  if (own === undefined) return undefined;
  let sum = own;
  for (const kid of processTree(pid).slice(1)) sum += ownCpuSeconds(kid) ?? 0;
  return sum;
}

/** Pin every thread of a running process to `cpus` (taskset -a -pc); false when taskset is missing or refuses. */
export function pinPid(pid: number, cpus: readonly number[]): boolean {
  if (!hasTaskset() || cpus.length === 0) return false;
  try {
    execFileSync(TASKSET, ['-a', '-pc', cpus.join(','), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Pin this process to `cpus`; returns a function restoring the previous affinity (no-op without taskset).
 * `mainOnly`: pin just the main thread (the pacer) and leave the libuv pool and V8's GC helpers where they were.
 */
export function pinSelf(cpus: readonly number[], mainOnly = false): () => void {
  if (!hasTaskset() || cpus.length === 0) return () => {};
  const all = mainOnly ? [] : ['-a'];
  try {
    const before = execFileSync(TASKSET, ['-pc', String(process.pid)], { encoding: 'utf8' }).split(':').pop()!.trim();
    // -a: every thread of this process (libuv pool, V8 helpers), not just the main one.
    execFileSync(TASKSET, [...all, '-pc', cpus.join(','), String(process.pid)], { stdio: 'ignore' });
    return () => {
      try { execFileSync(TASKSET, ['-a', '-pc', before, String(process.pid)], { stdio: 'ignore' }); } catch { /* best effort */ }
    };
  } catch {
    return () => {};
  }
}
