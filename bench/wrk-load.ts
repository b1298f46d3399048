// wrk (Debian `wrk`, C, epoll) as the closed-loop loader: the peer harness of issue 13 ran
// `wrk -t2 -c64`. A Node loader (autocannon) spends more CPU per request than a native proxy
// does, so with two proxy processes on a 2-core host it is the loader that limits and the
// ratio says nothing about the proxies. wrk's own report gives rps and latency percentiles;
// CPU per response and foreign CPU are sampled over a window inside wrk's run.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpuSeconds, watchForeignCpu } from './processes.js';
import type { LoadResult } from './stats.js';

export const WRK_BIN = '/usr/bin/wrk';
/** wrk threads: the harness (-t2). */
export const WRK_THREADS = 2;

/** Pure: a wrk duration/latency figure ("812.00us", "1.23ms", "2.01s", "1.5m") in ms; NaN if unreadable. */
export function wrkMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s.trim());
  if (m === null) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export interface WrkReport { rps: number; requests: number; p50: number; p99: number; non2xx: number; errors: number }

/** Pure: read wrk's `--latency` report. Throws naming what is missing. */
export function parseWrk(out: string): WrkReport {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const req = /(\d+) requests in /.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (rps === null || req === null || p50 === null || p99 === null) throw new Error(`wrk: unreadable report: ${out.slice(0, 400)}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock === null ? 0 : Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  return { rps: Number(rps[1]), requests: Number(req[1]), p50: wrkMs(p50[1]!), p99: wrkMs(p99[1]!), non2xx: non2xx === null ? 0 : Number(non2xx[1]), errors };
}

/** Throws naming the package when wrk is not installed. */
export function requireWrk(): void {
  if (!existsSync(WRK_BIN)) throw new Error(`${WRK_BIN} not found: apt-get install -y wrk (PORTCULLIS_BENCH_LOADER=wrk)`);
}

/**
 * One wrk run of `durationS` (+ warmupS, unmeasured: wrk runs warmup + duration and the CPU
 * window covers the measured part; wrk's own figures cover the whole run, warm-up included).
 */
export interface WrkFlags { connections: number; durationS: number; warmupS: number; timeoutS: number; path: string; headers?: Record<string, string> | undefined }

export async function wrkOnce(url: string, f: WrkFlags, opts: { cpuPid?: number | undefined; ownPids?: readonly number[] | undefined }): Promise<LoadResult> {
  requireWrk();
  const target = new URL(f.path, url).href;
  const total = f.warmupS + f.durationS;
  const args = [`-t${WRK_THREADS}`, `-c${f.connections}`, `-d${Math.ceil(total + 0.5)}s`, `--timeout`, `${f.timeoutS}s`, '--latency'];
  for (const [k, v] of Object.entries(f.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(target);
  const p = spawn(WRK_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  await sleep(f.warmupS * 1000);
  const own = [...(opts.ownPids ?? []), p.pid!];
  const cpu0 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
  const foreign = opts.ownPids !== undefined ? watchForeignCpu(own) : undefined;
  const t0 = performance.now();
  await sleep(f.durationS * 1000);
  const cpu1 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
  const foreignCores = foreign?.();
  const windowS = (performance.now() - t0) / 1000;
  const code = await exited;
  if (code !== 0) throw new Error(`wrk exited ${code}: ${out.slice(0, 400)}`);
  const w = parseWrk(out);
  const r: LoadResult = { rps: w.rps, p50: w.p50, p99: w.p99, p999: Number.NaN, errors: w.errors, non2xx: w.non2xx, requests: w.requests, durationS: total };
  if (cpu0 !== undefined && cpu1 !== undefined && w.rps > 0) r.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / (w.rps * windowS);
  if (foreignCores !== undefined) r.foreignCores = foreignCores;
  return r;
}
