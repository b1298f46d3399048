// h2load (Debian nghttp2-client) as the HTTP/2 load generator: closed loop (clients × streams)
// or a fixed offered load (--rps per client), one run per call, pinned to the loader's CPUs.
// Latency percentiles come from its --log-file (one line per request: start µs, status, µs);
// throughput and failures from its summary. CPU per request is sampled from /proc around the run.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, pinnedCommand, watchForeignCpu } from './processes.js';
import type { LoadResult } from './stats.js';

export const H2LOAD_BIN = '/usr/bin/h2load';

/** Flags of one h2load run; recorded in the result file. */
export interface H2LoadFlags {
  /** Concurrent clients (one HTTP/2 connection each). */
  clients: number;
  /** Streams in flight per connection (closed loop); with `rpsPerClient`, the upper bound. */
  streams: number;
  durationS: number;
  /** A separate unmeasured run before the measured one, seconds (0: none). */
  warmupS: number;
  /** Fixed offered load: requests per second per client (h2load --rps); absent: closed loop. */
  rpsPerClient?: number;
  path: string;
  headers?: Record<string, string>;
  /** A file whose bytes are every request's body (h2load -d: POST); absent: GET without a body. */
  dataFile?: string;
}

export interface H2LoadResult extends LoadResult {
  /** CPU µs per response of each watched process, by name (proxy, upstream). */
  cpuUsPerReqOf: Record<string, number>;
  /** Offered rps (clients × rpsPerClient) for a fixed-rate run. */
  offeredRps?: number;
}

/** Thrown when h2load is not installed: the scenario cannot run without it. */
export class H2LoadMissing extends Error {}

/** "1.52.0", or throws H2LoadMissing naming the package to install. */
export function h2loadVersion(bin = H2LOAD_BIN): string {
  if (!existsSync(bin)) throw new H2LoadMissing(`h2load not found at ${bin}: the HTTP/2 benchmarks need it; install it with: apt-get install -y nghttp2-client`);
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
  return /nghttp2\/(\S+)/.exec(out)?.[1] ?? out.trim();
}

/** Pure: h2load's summary lines → completed requests, failures, status classes, rps. */
export function parseH2loadSummary(out: string): { rps: number; done: number; succeeded: number; failed: number; errored: number; timeout: number; status2xx: number } {
  // "finished in 999.20ms" for runs under a second, "finished in 5.00s" otherwise
  const fin = /finished in ([\d.]+)m?s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const st = /status codes: (\d+) 2xx/.exec(out);
  if (fin === null || req === null || st === null) throw new Error(`h2load output not understood:\n${out.slice(-2000)}`);
  return { rps: Number(fin[2]), done: Number(req[3]), succeeded: Number(req[4]), failed: Number(req[5]), errored: Number(req[6]), timeout: Number(req[7]), status2xx: Number(st[1]) };
}

/** Pure: p50/p99/p99.9 in ms from an h2load --log-file (tab-separated: start µs, status, duration µs). */
export function logPercentiles(log: string): { p50: number; p99: number; p999: number; n: number } {
  const us: number[] = [];
  for (const line of log.split('\n')) {
    const f = line.split('\t');
    if (f.length >= 3) us.push(Number(f[2]));
  }
  us.sort((a, b) => a - b);
  const at = (q: number): number => (us.length === 0 ? Number.NaN : us[Math.min(us.length - 1, Math.floor(q * us.length))]! / 1000);
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), n: us.length };
}

function h2loadArgs(url: string, f: H2LoadFlags, durationS: number, logFile: string | null): string[] {
  const args = ['-c', String(f.clients), '-m', String(f.streams), '-t', '1', '-D', String(durationS)];
  if (f.rpsPerClient !== undefined) args.push('--rps', String(f.rpsPerClient));
  for (const [k, v] of Object.entries(f.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (f.dataFile !== undefined) args.push('-d', f.dataFile);
  if (logFile !== null) args.push('--log-file', logFile);
  args.push(url + f.path);
  return args;
}

/** Run h2load; resolves with its output and its own CPU seconds (sampled every 100 ms: /proc forgets it at exit, so the last ≤ 100 ms are missing). */
function runOnce(args: string[], cpus: readonly number[] | undefined): Promise<{ out: string; cpuS: number; wallS: number }> {
  const { command, args: argv } = pinnedCommand(H2LOAD_BIN, args, cpus);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let cpuS = 0;
    const sampler = setInterval(() => { cpuS = cpuSeconds(p.pid!) ?? cpuS; }, 100);
    p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    p.once('error', (err) => { clearInterval(sampler); reject(err); });
    p.once('exit', (code) => {
      clearInterval(sampler);
      if (code === 0) resolve({ out, cpuS, wallS: (performance.now() - t0) / 1000 });
      else reject(new Error(`h2load exited with ${code}:\n${out.slice(-2000)}`));
    });
  });
}

/**
 * One measured run (after an unmeasured warmup run when warmupS > 0). `watch`: processes whose
 * CPU per response is recorded (the first is the hop under test → cpuUsPerReq); `ownPids`: the
 * bench's children, so CPU used by anything else is recorded as foreignCores.
 */
export async function runH2load(url: string, f: H2LoadFlags, opts: { cpus?: readonly number[]; watch: Record<string, number>; ownPids: readonly number[] }): Promise<H2LoadResult> {
  if (f.warmupS > 0) await runOnce(h2loadArgs(url, f, f.warmupS, null), opts.cpus);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-h2load-'));
  const logFile = join(dir, 'requests.tsv');
  try {
    const cpu0 = Object.fromEntries(Object.entries(opts.watch).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const foreign = watchForeignCpu(opts.ownPids);
    const { out, cpuS, wallS } = await runOnce(h2loadArgs(url, f, f.durationS, logFile), opts.cpus);
    // h2load is ours too: its CPU is not foreign
    const raw = foreign();
    const foreignCores = raw === undefined ? undefined : Math.max(0, raw - cpuS / wallS);
    const s = parseH2loadSummary(out);
    const lat = logPercentiles(readFileSync(logFile, 'utf8'));
    const cpuUsPerReqOf: Record<string, number> = {};
    for (const [k, pid] of Object.entries(opts.watch)) {
      const a = cpu0[k];
      const b = cpuSeconds(pid);
      if (a !== undefined && b !== undefined && s.done > 0) cpuUsPerReqOf[k] = ((b - a) * 1e6) / s.done;
    }
    const first = Object.keys(opts.watch)[0];
    const r: H2LoadResult = {
      rps: s.status2xx / f.durationS, p50: lat.p50, p99: lat.p99, p999: lat.p999,
      // failed = streams that ended without a response (errored, timed out, reset); the rest answered
      errors: s.failed, non2xx: Math.max(0, s.done - s.failed - s.status2xx),
      requests: s.status2xx, durationS: f.durationS, cpuUsPerReqOf,
      ...(first !== undefined && cpuUsPerReqOf[first] !== undefined ? { cpuUsPerReq: cpuUsPerReqOf[first] } : {}),
      ...(foreignCores !== undefined ? { foreignCores } : {}),
      ...(f.rpsPerClient !== undefined ? { offeredRps: f.rpsPerClient * f.clients } : {}),
    };
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
