// Scenario `startup`: how long the CLI takes to start — `--help`, `check-config FILE` to exit,
// `serve` (and `serve --workers 2`) to its "listening" log line (a config without issuers: no JWKS
// fetch), the same with one issuer (JWKS from a local server) to `/readyz` 200, `dev` to its printed token — wall ms and CPU ms of the process tree, median of
// repeated runs, this build beside another built checkout (PORTCULLIS_BENCH_BASELINE) when given,
// interleaved run by run so both see the same machine. The test suite starts the CLI ~1000 times.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
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
/** CONFIG plus one issuer whose JWKS `jwksUrl` serves, and the route requiring its tokens: what most tests and operators start. */
function issuerConfig(jwksUrl: string): string {
  return CONFIG.replace('auth: none', 'auth: {}') + `issuers: { bench: { issuer: "https://issuer.bench", jwks_uri: "${jwksUrl}", discovery: false, audiences: [bench], algorithms: [RS256] } }\n`;
}

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
async function timeRun(cli: string, args: readonly string[], upLine: string | null, ready = false): Promise<Run> {
  const cpu0 = childrenCpuMs();
  const wallMs = await timeWall(cli, args, upLine, ready);
  const cpu1 = childrenCpuMs();
  return { wallMs, cpuMs: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
}

/** Status of GET /readyz on the admin port (0 when it cannot connect). */
function readyzStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const q = request({ host: '127.0.0.1', port, path: '/readyz' }, (r) => { r.resume(); r.on('end', () => resolve(r.statusCode ?? 0)); });
    q.on('error', () => resolve(0));
    q.end();
  });
}

/** `ready`: after the up line, poll the admin port it names until /readyz answers 200 (keys loaded). */
function timeWall(cli: string, args: readonly string[], upLine: string | null, ready = false): Promise<number> {
  const untilListening = upLine !== null;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, PT_BENCH_ADMIN: 'bench' }, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let listenedAt: number | null = null;
    const limit = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`portcullis ${args.join(' ')}: no ${untilListening ? 'listening line' : 'exit'} in ${RUN_LIMIT_MS} ms`)); }, RUN_LIMIT_MS);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (upLine === null || listenedAt !== null || !out.includes(upLine)) return;
      listenedAt = -1;
      const admin = /"adminPort":(\d+)/.exec(out.slice(Math.max(0, out.indexOf(upLine) - 400)));
      void (async () => {
        while (ready && admin !== null && await readyzStatus(Number(admin[1])) !== 200) await new Promise((r) => setTimeout(r, 10));
        listenedAt = performance.now() - t0;
        p.kill('SIGTERM');
      })();
    });
    p.on('close', (code) => {
      clearTimeout(limit);
      if (untilListening && listenedAt !== null && listenedAt >= 0) resolve(listenedAt);
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
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }] });
  const jwksServer = createServer((_q, r) => { r.writeHead(200, { 'content-type': 'application/json' }).end(jwks); });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const issuerFile = join(dir, 'portcullis-issuer.yaml');
  writeFileSync(issuerFile, issuerConfig(`http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`));
  const builds: Array<{ name: string; cli: string }> = [{ name: 'this build', cli: cliPath() }];
  const skipped: Record<string, string> = {};
  const base = process.env[BASELINE_ENV];
  if (base !== undefined && base !== '') {
    const cli = join(base, 'dist', 'cluster', 'cli', 'main.js');
    if (existsSync(cli)) builds.push({ name: 'baseline', cli }); else skipped.baseline = `${cli} missing: build that checkout first`;
  }
  const listening = '"msg":"listening"';
  const commands: Array<{ name: string; args: string[]; upLine: string | null; ready?: boolean }> = [
    { name: '--help', args: ['--help'], upLine: null },
    { name: 'check-config', args: ['check-config', config], upLine: null },
    { name: 'serve → listening', args: ['serve', '--config', config], upLine: listening },
    // the primary logs "listening" once every worker reported ready
    { name: 'serve --workers 2 → listening', args: ['serve', '--workers', '2', '--config', config], upLine: listening },
    { name: 'serve, one issuer → /readyz 200', args: ['serve', '--config', issuerFile], upLine: listening, ready: true },
    { name: 'serve --workers 2, one issuer → /readyz 200', args: ['serve', '--workers', '2', '--config', issuerFile], upLine: listening, ready: true },
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
          const r = await timeRun(b.cli, c.args, c.upLine, c.ready);
          (ms[`${b.name}|${c.name}`] ??= []).push(r.wallMs);
          if (r.cpuMs !== null) (cpu[`${b.name}|${c.name}`] ??= []).push(r.cpuMs);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    jwksServer.close();
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
    scenario: 'startup', quick: opts.quick, flags: { runs, config: 'auth none, no issuers; "one issuer": the same plus one RS256 issuer, JWKS from a local server, route auth {}' },
    cpuPlan: cpuPlan(availableParallelism()), peers: {}, skipped, rounds: { ...ms, ...Object.fromEntries(Object.entries(cpu).map(([k, v]) => [`${k} (CPU ms)`, v])) }, summary,
    warnings: load > 1 ? [`load average ${load.toFixed(1)} during the run: other processes shared the CPU`] : [],
    table: markdownTable(['command (median ms)', ...builds.flatMap((b) => [`${b.name} wall`, `${b.name} CPU`])], rows, [false, ...builds.flatMap(() => [true, true])]),
  };
}
