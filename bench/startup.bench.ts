// Scenario `startup`: how long the CLI takes to start — `--help`, `check-config FILE` to exit,
// `serve` (and `serve --workers 2`) to its "listening" log line (a config without issuers: no JWKS
// fetch), `dev` to its printed token — wall ms and CPU ms of the process tree, median of
// repeated runs, this build beside another built checkout (PORTCULLIS_BENCH_BASELINE) when given,
// interleaved run by run so both see the same machine. The test suite starts the CLI ~1000 times.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASELINE_ENV } from './build-compare.bench.js';
import { cpuPlan } from './cpu-plan.js';
import { cliPath } from './paths.js';
import { cell, markdownTable } from './results.js';
import type { ScenarioOptions, ScenarioReport } from './scenario.js';
import { median } from './stats.js';

const CONFIG = `server: { listen: { host: 127.0.0.1, port: 0 } }
admin: { listen: { host: 127.0.0.1, port: 0 }, token_env: PT_BENCH_ADMIN }
upstreams: { app: { targets: ["http://127.0.0.1:9"] } }
routes: [{ name: all, match: { path: "/*" }, upstream: app, auth: none }]
`;
/** A run that has not exited (or listened) by then is a failure, not a number. */
const RUN_LIMIT_MS = 60_000;

/**
 * CPU ms (user + sys) of this process's reaped children and theirs (/proc/self/stat cutime +
 * cstime, 10 ms ticks): the difference across one run is that run's process tree, to its exit.
 * Null off Linux.
 */
function childrenCpuMs(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return (Number(f[13]) + Number(f[14])) * 10; // cutime, cstime (fields 16, 17) in USER_HZ = 100
  } catch { return null; }
}

interface Run { readonly wallMs: number; readonly cpuMs: number | null }

/**
 * Milliseconds from spawn to exit, or to the line that says it is up (then SIGTERM and wait for the
 * exit); CPU ms of the process tree to its exit.
 */
async function timeRun(cli: string, args: readonly string[], upLine: string | null): Promise<Run> {
  const cpu0 = childrenCpuMs();
  const wallMs = await timeWall(cli, args, upLine);
  const cpu1 = childrenCpuMs();
  return { wallMs, cpuMs: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
}

function timeWall(cli: string, args: readonly string[], upLine: string | null): Promise<number> {
  const untilListening = upLine !== null;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, PT_BENCH_ADMIN: 'bench' }, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let listenedAt: number | null = null;
    const limit = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`portcullis ${args.join(' ')}: no ${untilListening ? 'listening line' : 'exit'} in ${RUN_LIMIT_MS} ms`)); }, RUN_LIMIT_MS);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (upLine !== null && listenedAt === null && out.includes(upLine)) { listenedAt = performance.now() - t0; p.kill('SIGTERM'); }
    });
    p.on('close', (code) => {
      clearTimeout(limit);
      if (untilListening && listenedAt !== null) resolve(listenedAt);
      else if (untilListening) reject(new Error(`serve exited ${code} before listening`));
      else if (code === 0) resolve(performance.now() - t0);
      else reject(new Error(`portcullis ${args.join(' ')} exited ${code}`));
    });
  });
}

export async function startup(opts: ScenarioOptions): Promise<ScenarioReport> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-startup-'));
  const config = join(dir, 'portcullis.yaml');
  writeFileSync(config, CONFIG);
  const builds: Array<{ name: string; cli: string }> = [{ name: 'this build', cli: cliPath() }];
  const skipped: Record<string, string> = {};
  const base = process.env[BASELINE_ENV];
  if (base !== undefined && base !== '') {
    const cli = join(base, 'dist', 'cluster', 'cli', 'main.js');
    if (existsSync(cli)) builds.push({ name: 'baseline', cli }); else skipped.baseline = `${cli} missing: build that checkout first`;
  }
  const listening = '"msg":"listening"';
  const commands: Array<{ name: string; args: string[]; upLine: string | null }> = [
    { name: '--help', args: ['--help'], upLine: null },
    { name: 'check-config', args: ['check-config', config], upLine: null },
    { name: 'serve → listening', args: ['serve', '--config', config], upLine: listening },
    // the primary logs "listening" once every worker reported ready
    { name: 'serve --workers 2 → listening', args: ['serve', '--workers', '2', '--config', config], upLine: listening },
    { name: 'dev → token printed', args: ['dev', '--port', '0'], upLine: 'export TOKEN=' },
  ];
  const runs = opts.quick ? 3 : opts.rounds * 3;
  const ms: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const load0 = loadavg()[0]!;
  try {
    for (let i = 0; i < runs; i++) {
      for (const b of i % 2 === 0 ? builds : [...builds].reverse()) {
        for (const c of commands) {
          const r = await timeRun(b.cli, c.args, c.upLine);
          (ms[`${b.name}|${c.name}`] ??= []).push(r.wallMs);
          if (r.cpuMs !== null) (cpu[`${b.name}|${c.name}`] ??= []).push(r.cpuMs);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary: Record<string, Record<string, number>> = {};
  const rows = commands.map((c) => [cell(c.name), ...builds.flatMap((b) => {
    const m = median(ms[`${b.name}|${c.name}`]!);
    const cpus = cpu[`${b.name}|${c.name}`];
    const cm = cpus === undefined ? null : median(cpus);
    (summary[b.name] ??= {})[c.name] = m;
    if (cm !== null) summary[b.name]![`${c.name} (CPU ms)`] = cm;
    return [cell(m, 0), cm === null ? cell('—') : cell(cm, 0)];
  })]);
  const load = Math.max(load0, loadavg()[0]!);
  return {
    scenario: 'startup', quick: opts.quick, flags: { runs, config: 'auth none, no issuers' },
    cpuPlan: cpuPlan(availableParallelism()), peers: {}, skipped, rounds: { ...ms, ...Object.fromEntries(Object.entries(cpu).map(([k, v]) => [`${k} (CPU ms)`, v])) }, summary,
    warnings: load > 1 ? [`load average ${load.toFixed(1)} during the run: other processes shared the CPU`] : [],
    table: markdownTable(['command (median ms)', ...builds.flatMap((b) => [`${b.name} wall`, `${b.name} CPU`])], rows, [false, ...builds.flatMap(() => [true, true])]),
  };
}
