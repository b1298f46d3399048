// Issue 13's on-CPU account on the peer harness's terms: Portcullis `serve --workers 2` beside
// HAProxy nbthread 2 (and, warm, nginx + auth_request + proxy_cache), wrk -t2 -c64 on CPU 0, the
// upstream on the last CPU, while `perf record -a -e cpu-clock` samples every CPU. Per target: CPU µs
// per request of the proxy, the upstream, the loader and everything else, and the proxy's µs by what
// they buy (perf-categories.ts). Needs perf (apt-get install -y linux-perf), wrk and haproxy.
// Run: `node dist/bench/perf-account.js [--scenario warm|cold|pass] [--seconds 5] [--rounds 2] [--record]`
// (PORTCULLIS_BENCH_PERF_TOP=N keeps the N busiest symbols per row in the JSON instead of 30; PORTCULLIS_BENCH_PERF_CALLGRAPH=DIR
// records call graphs (`-g`) and keeps each round's perf.data in DIR, with the JIT's /tmp/perf-PID.map files, for `perf report -g`).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startHaproxy } from './haproxy.js';
import { machineInfo, machineLine } from './machine.js';
import { startNginxAuth } from './nginx.js';
import { localResultsDir, resultsDir } from './paths.js';
import { categorize, categoryMicros, parsePerfReport, type PerfCategory } from './perf-categories.js';
import { processTree } from './processes.js';
import { cell, markdownTable, writeResults } from './results.js';
import { passthroughConfigYaml, startPortcullis, startUpstreamProcess } from './targets.js';
import { haproxyJwtChecks, publicKeyPem, startAuthServerProcess, startJwtValidatorProcess, tokenConfigEnv, tokenConfigYaml } from './token-targets.js';
import { parseWrk, requireWrk, WRK_BIN } from './wrk-load.js';

const PERF_BIN = '/usr/bin/perf';
const HZ = 999;
const CONNECTIONS = 64;
/** Unmeasured load per target before the first round, s. */
const PRIME_S = 8;
type Scenario = 'warm' | 'cold' | 'pass';

interface Target { name: string; url: string; pid: number; peerDso: string | null }
/** One measured window of one target. */
export interface AccountRow {
  target: string; round: number; rps: number;
  /** CPU µs per request: the proxy's process tree, the upstream, the loader, every other process; idle CPU in cores. */
  proxyUs: number; upstreamUs: number; loaderUs: number; foreignCores: number; idleCores: number;
  categories: Partial<Record<PerfCategory, number>>;
  /** The proxy's 30 costliest symbols, µs per request. */
  top: Array<{ sym: string; category: PerfCategory; us: number }>;
}

/** wrk's per-request arguments: fixed headers, or a Lua script that rotates tokens. */
function wrkRequestArgs(headers: Record<string, string>, lua: string | null): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  if (lua !== null) args.push('-s', lua);
  return args;
}

function perfReport(data: string, args: string[]): string {
  return execFileSync(PERF_BIN, ['report', '-i', data, '--stdio', '-n', '--no-children', '-g', 'none', '--percentage', 'absolute', ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
}

/** Samples per process id (threads summed), from `perf report --sort pid` (tid:comm rows) and /proc's thread lists taken before. */
function samplesBy(data: string, groups: Record<string, readonly number[]>): Record<string, number> {
  const out: Record<string, number> = { total: 0, idle: 0 };
  const text = perfReport(data, ['--sort', 'pid']);
  const owner = new Map<number, string>();
  for (const [g, tids] of Object.entries(groups)) { out[g] = 0; for (const t of tids) owner.set(t, g); }
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+%\s+(\d+)\s+(\d+):/.exec(line);
    if (m === null) continue;
    const n = Number(m[1]), tid = Number(m[2]);
    out.total! += n;
    const g = tid === 0 ? 'idle' : owner.get(tid);
    if (g !== undefined) out[g]! += n;
  }
  return out;
}

/** Every thread id of `pids` and their child processes. */
function threadsOf(pids: readonly number[]): number[] {
  const tids: number[] = [];
  for (const pid of pids) for (const p of processTree(pid)) {
    try { tids.push(...execFileSync('ls', [`/proc/${p}/task`], { encoding: 'utf8' }).split('\n').filter((s) => s !== '').map(Number)); } catch { /* gone */ }
  }
  return tids;
}

async function measure(t: Target, round: number, seconds: number, lua: string | null, headers: Record<string, string>, dir: string, upstreamPid: number): Promise<AccountRow> {
  const warm = 2;
  const args = [`-t2`, `-c${CONNECTIONS}`, `-d${warm + seconds + 1}s`, '--latency', ...wrkRequestArgs(headers, lua), t.url + '/'];
  const wrk = spawn('taskset', ['-c', '0', WRK_BIN, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  wrk.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => wrk.on('close', () => resolve()));
  await new Promise((r) => setTimeout(r, warm * 1000));
  const data = join(dir, `${t.name}-${round}.data`);
  const groups = { proxy: threadsOf([t.pid]), upstream: threadsOf([upstreamPid]), loader: threadsOf([wrk.pid!]) };
  const graphs = process.env.PORTCULLIS_BENCH_PERF_CALLGRAPH;
  execFileSync(PERF_BIN, ['record', '-a', ...(graphs ? ['-g'] : []), '-F', String(HZ), '-e', 'cpu-clock', '-o', data, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  if (graphs) { mkdirSync(graphs, { recursive: true }); copyFileSync(data, join(graphs, `${t.name}-${round}.data`)); }
  await exited;
  const w = parseWrk(out);
  if (w.non2xx > 0 || w.errors > 0) throw new Error(`${t.name}: ${w.non2xx} non-2xx, ${w.errors} socket errors — the target refuses the load`);
  const requests = w.rps * seconds;
  const s = samplesBy(data, groups);
  const known = s.proxy! + s.upstream! + s.loader! + s.idle!;
  const symbols = parsePerfReport(perfReport(data, ['--pid', groups.proxy.join(','), '--sort', 'dso,sym']));
  const cats = categoryMicros(symbols, HZ, requests, t.peerDso);
  const top = [...symbols].sort((a, b) => b.samples - a.samples).slice(0, Number(process.env.PORTCULLIS_BENCH_PERF_TOP ?? 30))
    .map((r) => ({ sym: r.sym.slice(0, 160), category: categorize(r, t.peerDso), us: (r.samples / HZ) * 1e6 / requests }));
  return {
    target: t.name, round, rps: w.rps,
    proxyUs: (s.proxy! / HZ) * 1e6 / requests, upstreamUs: (s.upstream! / HZ) * 1e6 / requests, loaderUs: (s.loader! / HZ) * 1e6 / requests,
    foreignCores: (s.total! - known) / HZ / seconds, idleCores: s.idle! / HZ / seconds,
    categories: Object.fromEntries(cats), top,
  };
}

/** Pure: medians per target and category, as markdown. */
export function accountTables(rows: readonly AccountRow[]): string {
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
  const names = [...new Set(rows.map((r) => r.target))];
  const of = (n: string): AccountRow[] => rows.filter((r) => r.target === n);
  const head = markdownTable(['target', 'rps', 'proxy µs/req', 'upstream µs/req', 'loader µs/req', 'foreign cores (max)', 'idle cores'],
    names.map((n) => [n, cell(med(of(n).map((r) => r.rps)), 0), cell(med(of(n).map((r) => r.proxyUs)), 1), cell(med(of(n).map((r) => r.upstreamUs)), 1), cell(med(of(n).map((r) => r.loaderUs)), 1), cell(Math.max(...of(n).map((r) => r.foreignCores)), 2), cell(med(of(n).map((r) => r.idleCores)), 2)]),
    [false, true, true, true, true, true, true]);
  const cats = [...new Set(rows.flatMap((r) => Object.keys(r.categories)))] as PerfCategory[];
  const total = (c: PerfCategory): number => med(of(names[0]!).map((r) => r.categories[c] ?? 0));
  cats.sort((a, b) => total(b) - total(a));
  const body = markdownTable(['proxy µs/req by category (medians)', ...names], cats.map((c) => [c, ...names.map((n) => cell(med(of(n).map((r) => r.categories[c] ?? 0)), 1))]), [false, ...names.map(() => true)]);
  return `${head}\n\n${body}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'warm' }, seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '2' }, record: { type: 'boolean', default: false } }, strict: true });
  const scenario = values.scenario as Scenario;
  if (!['warm', 'cold', 'pass'].includes(scenario)) throw new Error(`--scenario: warm, cold or pass, not ${scenario}`);
  if (!existsSync(PERF_BIN)) throw new Error(`${PERF_BIN} not found: apt-get install -y linux-perf`);
  requireWrk();
  const seconds = Number(values.seconds), rounds = Number(values.rounds);
  const cores = availableParallelism();
  const proxyCpus = Array.from({ length: cores }, (_, i) => i);
  const dir = mkdtempSync(join(tmpdir(), 'perf-account-'));
  const stops: Array<() => Promise<void> | void> = [];
  try {
    const upstream = await startUpstreamProcess([cores - 1]);
    stops.push(() => upstream.stop());
    const targets: Target[] = [];
    let headers: Record<string, string> = {};
    let lua: string | null = null;
    let jwt = null;
    if (scenario === 'pass') {
      const pc = await startPortcullis(passthroughConfigYaml(upstream.port).replace('workers: 1', `workers: ${cores}`), proxyCpus, { NODE_OPTIONS: '--perf-basic-prof' });
      stops.push(() => pc.stop());
      targets.push({ name: 'portcullis', url: pc.url, pid: pc.process.pid, peerDso: null });
    } else {
      const as = await startAuthServerProcess();
      stops.push(() => as.stop());
      const tokens = await as.mint({ kind: 'jwt', alg: 'RS256', count: scenario === 'cold' ? 8000 : 1 });
      if (scenario === 'cold') {
        writeFileSync(join(dir, 'tokens.txt'), tokens.join('\n') + '\n');
        lua = join(dir, 'rotate.lua');
        writeFileSync(lua, `local t = {}\nfor l in io.lines("${join(dir, 'tokens.txt')}") do t[#t+1] = l end\nlocal i = math.random(#t)\nrequest = function()\n  i = i % #t + 1\n  return wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. t[i] })\nend\n`);
      } else headers = { authorization: `Bearer ${tokens[0]!}` };
      const { env } = tokenConfigEnv();
      const pc = await startPortcullis(tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['RS256'], poolSize: 1, cacheEntries: scenario === 'cold' ? 1024 : 100_000, workers: cores }), proxyCpus, { ...env, NODE_OPTIONS: '--perf-basic-prof' });
      stops.push(() => pc.stop());
      targets.push({ name: 'portcullis', url: pc.url, pid: pc.process.pid, peerDso: null });
      const pem = join(dir, 'pub.pem');
      writeFileSync(pem, await publicKeyPem(as.jwksUri, 'RS256'));
      jwt = haproxyJwtChecks(pem, 'RS256', as.issuer, true);
      if (scenario === 'warm') {
        const v = await startJwtValidatorProcess(as, 'RS256', proxyCpus);
        stops.push(() => v.process.stop());
        const ngc = await startNginxAuth({ upstreamPort: upstream.port, authPort: v.port, authPath: '/verify', cacheTtlS: 3600, workers: cores, forwardfor: true }, proxyCpus);
        if ('skipped' in ngc) throw new Error(`nginx-cached: ${ngc.skipped}`);
        stops.push(() => ngc.stop());
        targets.push({ name: 'nginx-cached', url: ngc.url, pid: ngc.process.pid, peerDso: 'nginx' });
      }
    }
    const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: upstream.port }, nbthread: cores, cpus: proxyCpus, forwardfor: true, ...(jwt === null ? {} : { jwt }) });
    if (hp.skipped) throw new Error(`haproxy: ${hp.reason}`);
    stops.push(() => hp.stop());
    targets.push({ name: 'haproxy', url: hp.url, pid: hp.process.pid, peerDso: 'haproxy' });
    // JIT and caches warm before any measurement: a fresh Node process compiles its hot path for seconds
    // (TurboFan's compile thread and IC misses showed as ~25 % of the first round's samples)
    for (const t of targets) execFileSync('taskset', ['-c', '0', WRK_BIN, '-t2', `-c${CONNECTIONS}`, `-d${PRIME_S}s`, ...wrkRequestArgs(headers, lua), t.url + '/'], { stdio: 'ignore' });
    const rows: AccountRow[] = [];
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + r) % targets.length]!;
        const row = await measure(t, r + 1, seconds, lua, headers, dir, upstream.process.pid!);
        process.stdout.write(`  round ${r + 1} ${t.name.padEnd(13)} ${row.rps.toFixed(0)} rps  proxy ${row.proxyUs.toFixed(1)} µs/req  upstream ${row.upstreamUs.toFixed(1)}  loader ${row.loaderUs.toFixed(1)}  foreign ${row.foreignCores.toFixed(2)}\n`);
        rows.push(row);
      }
    }
    const m = machineInfo();
    process.stdout.write(`\n${machineLine(m)}\nperf-account ${scenario}: wrk -t2 -c${CONNECTIONS} on CPU 0, upstream CPU ${cores - 1}, proxies on CPUs 0–${cores - 1} (${cores} workers / nbthread / worker_processes), X-Forwarded-For appended by every proxy; perf -a -F ${HZ} cpu-clock over ${seconds} s per round\n\n${accountTables(rows)}\n`);
    const file = writeResults(`perf-account-${scenario}`, { machine: m, scenario, seconds, rounds, hz: HZ, connections: CONNECTIONS, rows }, { dir: values.record ? resultsDir() : localResultsDir() });
    process.stdout.write(`\nJSON: ${file}\n`);
  } finally {
    for (const s of stops.reverse()) await s();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => { process.stderr.write(`perf-account: ${(err as Error).message}\n`); process.exit(1); });
}
