// Starts the proxy exactly as a user does (node dist/cluster/cli/main.js …) with a
// config written to a temp file, waits for its "listening" line and collects output;
// reads its /readyz and reloads it with a new config through the admin API.
// PT_TEST_LOG_DELAY_MS=N hands the proxy's output to the test N ms late: a loaded host's log lag,
// to show that a test reading logs() or output() waits for what it reads (never set in CI).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { stringify } from 'yaml';
import { reap } from './reaper.js';
import { tempDir } from './temp-dirs.js';
import { waitFor } from './wait.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'cluster', 'cli', 'main.js');

export interface ProxyProcess {
  proc: ChildProcess;
  port: number;
  adminPort: number;
  url: string;
  adminUrl: string;
  configPath: string;
  /** Everything printed so far (stdout + stderr). */
  output(): string;
  /** JSON log lines parsed from stdout. */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** The exit code, at the child's 'exit' event: its last output may still be on the way (see `closed`). */
  exited: Promise<number | null>;
  /**
   * The exit code once the process exited AND its output is all in output()/logs() (stdout and stderr
   * closed: 'close'). Read what a process printed last after this, never after `exited`: under load the
   * last chunk arrives after the 'exit' event (as runCli's comment says). Held open by any process that
   * inherited the pipes (a worker outliving its primary): bound the wait where that can happen.
   */
  closed: Promise<number | null>;
}

function ensureBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`compiled CLI missing at ${CLI}: run "npm run build" (npm test does it)`);
}

/** Write a config object (or raw YAML text) to a temp file (removed after the test file, see temp-dirs.ts). */
export function writeConfig(config: unknown): string {
  const dir = tempDir('portcullis-test-');
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, typeof config === 'string' ? config : stringify(config));
  return file;
}

/** Run the CLI to completion (for check-config, bad usage, explain…); `input` is its stdin (default empty). */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const p = reap(spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }));
    p.stdin.on('error', () => undefined); // a CLI that never reads may exit before its stdin is written
    p.stdin.end(input ?? '');
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`portcullis ${args.join(' ')} did not exit in ${timeoutMs} ms\n${stdout}\n${stderr}`)); }, timeoutMs);
    // 'close', not 'exit': under load the last stdout chunk can arrive after the exit event
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/** Start `portcullis serve --config <tmp>` (plus extra args) and wait until it listens. */
/** `wrap`: a command the node process is started under (`['prlimit', '--nofile=128:128', '--']`). */
export async function startProxy(config: unknown, opts: { args?: string[]; env?: Record<string, string>; timeoutMs?: number; configPath?: string; nodeArgs?: string[]; wrap?: string[] } = {}): Promise<ProxyProcess> {
  ensureBuilt();
  const configPath = opts.configPath ?? writeConfig(config);
  const argv = [...(opts.nodeArgs ?? []), CLI, 'serve', '--config', configPath, ...(opts.args ?? [])];
  const wrap = opts.wrap ?? [];
  // dies with the test file even when the test or hook that started it fails before stopping it
  const proc = reap(spawn(wrap[0] ?? process.execPath, wrap.length > 0 ? [...wrap.slice(1), process.execPath, ...argv] : argv, {
    env: { ...process.env, ...ADMIN_ENV, ...(opts.env ?? {}) }, // baseConfig names the admin token variable: a config naming an unset one does not start
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let out = '';
  let stdout = '';
  let onOutput: (() => void) | undefined;
  const take = (d: Buffer, fromStdout: boolean): void => { out += d; if (fromStdout) stdout += d; onOutput?.(); };
  const lag = Number(process.env.PT_TEST_LOG_DELAY_MS ?? 0);
  const deliver = lag > 0 ? (d: Buffer, fromStdout: boolean): void => { setTimeout(take, lag, d, fromStdout); } : take;
  proc.stdout!.on('data', (d: Buffer) => deliver(d, true));
  proc.stderr!.on('data', (d: Buffer) => deliver(d, false));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  // after the output's own lag (PT_TEST_LOG_DELAY_MS): the last chunk's delivery was scheduled before this
  const closed = new Promise<number | null>((resolve) => proc.on('close', (code) => { if (lag > 0) setTimeout(resolve, lag, code); else resolve(code); }));
  // Parsed once per line: tests poll logs() every 20 ms, and re-parsing a long access log each time
  // kept a core busy on the shared 2-core machine. A line still being written is left for the next call.
  const parsed: Array<Record<string, unknown>> = [];
  let parsedTo = 0;
  const logs = (): Array<Record<string, unknown>> => {
    const end = stdout.lastIndexOf('\n') + 1;
    if (end > parsedTo) {
      for (const l of stdout.slice(parsedTo, end).split('\n')) {
        if (l.startsWith('{')) { try { parsed.push(JSON.parse(l) as Record<string, unknown>); } catch { parsed.push({}); } }
      }
      parsedTo = end;
    }
    return parsed.slice();
  };
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timeout = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`proxy did not report listening within ${opts.timeoutMs ?? 30_000} ms:\n${out}`)); }, opts.timeoutMs ?? 30_000);
    const check = (): void => {
      const l = logs().find((x) => x.msg === 'listening');
      if (l !== undefined) { clearTimeout(timeout); onOutput = undefined; resolve(l); }
    };
    onOutput = check;
    proc.on('exit', (code) => { clearTimeout(timeout); reject(new Error(`proxy exited with ${code} before listening:\n${out}`)); });
  });
  const port = Number(listening.port);
  const adminPort = Number(listening.adminPort);
  return {
    proc, port, adminPort, configPath, exited, closed,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    output: () => out,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Poll the unauthenticated `/readyz` of `p` until 200; throws with its last body and output after `ms` (default 20 s). */
export async function waitReady(p: ProxyProcess, ms = 20_000): Promise<void> {
  let last = '';
  await waitFor('/readyz 200', async () => {
    // a fresh connection per poll: a kept-alive one the admin server is closing can be picked on a
    // loaded machine, and undici fails it with "other side closed", ending the wait (ws-fixtures.ts admin())
    const r = await request(`${p.adminUrl}/readyz`, { reset: true });
    last = await r.body.text();
    return r.statusCode === 200;
  }, ms, { everyMs: 25, detail: () => `${last}\n${p.output().slice(-2000)}` });
}

/** GET /readyz of `p` with the admin token (so the body carries its details): status and parsed JSON body. */
export async function readyz(p: ProxyProcess): Promise<{ status: number; body: any }> {
  const r = await request(`${p.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: r.statusCode, body: await r.body.json() };
}

/** Write `config` over the proxy's config file, then POST /reload with the admin token; throws with the answer unless it is 200. */
export async function reloadWith(p: ProxyProcess, config: unknown): Promise<void> {
  writeFileSync(p.configPath, typeof config === 'string' ? config : stringify(config));
  const r = await request(`${p.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`POST /reload answered ${r.statusCode}: ${text}`);
}

/** A minimal valid config around one upstream URL; `extra` is merged at the top level. */
export function baseConfig(upstreamUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: { app: { targets: [upstreamUrl] } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
    log: { level: 'info', access: true },
    ...extra,
  };
}

export const ADMIN_TOKEN = 'test-admin-token';
export const ADMIN_ENV = { PORTCULLIS_TEST_ADMIN_TOKEN: ADMIN_TOKEN };

/** The bus key of this test file's clusters: pass BUS_ENV to the processes and `auth: BUS_AUTH` in their `cluster` section. */
export const BUS_KEY = randomBytes(48).toString('base64');
export const BUS_ENV = { PT_BUS_KEY: BUS_KEY };
export const BUS_AUTH = { key_env: 'PT_BUS_KEY' } as const;
