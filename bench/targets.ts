// The things a scenario loads: the cheap upstream and Portcullis, each started in its own
// process exactly as a user would, plus a probe that checks a target answers before it is loaded.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cheapUpstreamPath, cliPath } from './paths.js';
import { jsonLine, startProcess, type ManagedProcess } from './processes.js';

export interface RunningTarget {
  url: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Start `node dist/bench/cheap-upstream.js` pinned to `cpus`; resolves with its port. */
export async function startUpstreamProcess(cpus?: readonly number[]): Promise<RunningTarget> {
  const script = cheapUpstreamPath();
  if (!existsSync(script)) throw new Error(`compiled cheap upstream missing at ${script}: run "npm run build"`);
  const { process: proc, ready } = await startProcess({
    name: 'cheap-upstream', command: process.execPath, args: [script],
    ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'),
    ...(cpus !== undefined ? { cpus } : {}),
  });
  return { url: `http://127.0.0.1:${ready.port}`, port: ready.port, process: proc, stop: () => proc.stop() };
}

/**
 * The passthrough config: one upstream, one route, no auth, no access log. Log level `info`
 * (not `warn`): the CLI reports its readiness line `"msg":"listening"` at info, so a quieter
 * level would hide the port; with access logs off nothing else is logged per request.
 */
export function passthroughConfigYaml(upstreamPort: number, logLevel: 'info' | 'warn' = 'info'): string {
  return `server:
  listen: { host: 127.0.0.1, port: 0 }
  workers: 1
admin:
  listen: { host: 127.0.0.1, port: 0 }
upstreams:
  app:
    targets: ["http://127.0.0.1:${upstreamPort}"]
routes:
  - name: all
    match: { path: "/*" }
    upstream: app
    auth: none
log: { level: ${logLevel}, access: false }
`;
}

/**
 * Node flags that make Portcullis write V8 CPU profiles (main thread and pool workers) into
 * $PORTCULLIS_BENCH_CPU_PROF_DIR when it exits; none when unset. Summarise them with
 * `node dist/bench/profile-top.js FILE.cpuprofile`. Profiling slows the proxy: not for accepted numbers.
 */
export function cpuProfArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = env.PORTCULLIS_BENCH_CPU_PROF_DIR;
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** Thrown when Portcullis cannot be started; scenarios report it as a skipped target. */
export class PortcullisUnavailable extends Error {}

/**
 * `node dist/cluster/cli/main.js serve --config <tmp>/portcullis.yaml`, pinned to `cpus`, ready
 * at its `"msg":"listening"` line (fields port, adminPort). Throws PortcullisUnavailable when the
 * CLI is not built or exits/never reports listening, with its output. `cli`: another build's
 * main.js (scenario build-compare); default this tree's. `nodeArgs`: node flags before the script (`node <nodeArgs> main.js`).
 */
export async function startPortcullis(configYaml: string, cpus?: readonly number[], env?: Record<string, string>, cli = cliPath(), nodeArgs: readonly string[] = []): Promise<RunningTarget & { adminPort: number }> {
  if (!existsSync(cli)) throw new PortcullisUnavailable(`Portcullis CLI not found at ${cli}: run "npm run build" (the bench starts it as a user would)`);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const configPath = join(dir, 'portcullis.yaml');
  writeFileSync(configPath, configYaml);
  let started;
  try {
    started = await startProcess({
      name: 'portcullis', command: process.execPath, args: [...nodeArgs, ...cpuProfArgs(), cli, 'serve', '--config', configPath],
      ready: jsonLine<{ port: number; adminPort: number }>((o) => o.msg === 'listening' && typeof o.port === 'number'),
      timeoutMs: 20_000,
      ...(cpus !== undefined ? { cpus } : {}),
      ...(env !== undefined ? { env } : {}),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new PortcullisUnavailable(`Portcullis did not start (${cli} serve --config ${configPath}): ${(err as Error).message}`);
  }
  const { process: proc, ready } = started;
  return {
    url: `http://127.0.0.1:${ready.port}`, port: ready.port, adminPort: ready.adminPort, process: proc,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One GET with a fresh connection: status and body (first 4 KiB). Rejects on connection errors or after 5 s. */
export function probe(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 4096) body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`probe ${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}
