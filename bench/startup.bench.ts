// Scenario `startup`: how long the CLI takes to start — `--help`, `check-config FILE` to exit, and
// `serve` to its "listening" log line (a config without issuers: no JWKS fetch) — median of
// repeated runs, this build beside another built checkout (PORTCULLIS_BENCH_BASELINE) when given,
// interleaved run by run so both see the same machine. The test suite starts the CLI ~460 times.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** Milliseconds from spawn to exit, or to the "listening" line (then SIGTERM and wait for the exit). */
function timeRun(cli: string, args: readonly string[], untilListening: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, PT_BENCH_ADMIN: 'bench' }, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let listenedAt: number | null = null;
    const limit = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`portcullis ${args.join(' ')}: no ${untilListening ? 'listening line' : 'exit'} in ${RUN_LIMIT_MS} ms`)); }, RUN_LIMIT_MS);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (untilListening && listenedAt === null && out.includes('"msg":"listening"')) { listenedAt = performance.now() - t0; p.kill('SIGTERM'); }
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
  const commands: Array<{ name: string; args: string[]; listening: boolean }> = [
    { name: '--help', args: ['--help'], listening: false },
    { name: 'check-config', args: ['check-config', config], listening: false },
    { name: 'serve → listening', args: ['serve', '--config', config], listening: true },
  ];
  const runs = opts.quick ? 3 : opts.rounds * 3;
  const ms: Record<string, number[]> = {};
  const load0 = loadavg()[0]!;
  try {
    for (let i = 0; i < runs; i++) {
      for (const b of i % 2 === 0 ? builds : [...builds].reverse()) {
        for (const c of commands) (ms[`${b.name}|${c.name}`] ??= []).push(await timeRun(b.cli, c.args, c.listening));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary: Record<string, Record<string, number>> = {};
  const rows = commands.map((c) => [cell(c.name), ...builds.map((b) => {
    const m = median(ms[`${b.name}|${c.name}`]!);
    (summary[b.name] ??= {})[c.name] = m;
    return cell(m, 0);
  })]);
  const load = Math.max(load0, loadavg()[0]!);
  return {
    scenario: 'startup', quick: opts.quick, flags: { runs, config: 'auth none, no issuers' },
    cpuPlan: cpuPlan(availableParallelism()), peers: {}, skipped, rounds: ms, summary,
    warnings: load > 1 ? [`load average ${load.toFixed(1)} during the run: other processes shared the CPU`] : [],
    table: markdownTable(['command (median ms)', ...builds.map((b) => b.name)], rows, [false, ...builds.map(() => true)]),
  };
}
