// The rolling-upgrade check's pieces: members of the previous release (`old`, a built checkout at
// PORTCULLIS_PREVIOUS_ROOT) and of this build (`new`) started side by side on one bus key, the admin
// API, either build's CLI, /metrics and /readyz. Run by test/upgrade/vitest.config.ts, not by CI.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, BUS_ENV, BUS_AUTH, ADMIN_ENV, ROOT } from '../helpers/proxy-process.js';
import { reap } from '../helpers/reaper.js';
import type { AuthServer } from '../../cluster/cli/demo/auth-server.js';

const previous = process.env.PORTCULLIS_PREVIOUS_ROOT;
if (previous === undefined || !existsSync(join(previous, 'dist', 'cluster', 'cli', 'main.js'))) {
  throw new Error('PORTCULLIS_PREVIOUS_ROOT: the root of a built checkout of the previous release (git worktree add --detach ../before <commit> && (cd ../before && npm run build))');
}
export const OLD_CLI = join(previous, 'dist', 'cluster', 'cli', 'main.js');
export const NEW_CLI = join(ROOT, 'dist', 'cluster', 'cli', 'main.js');
export const sha256 = (t: string): string => createHash('sha256').update(t).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** UPGRADE_NO_KEY=1: the members share the bus without a key (`cluster.auth.mode: none`; no direct push port then). */
export const NO_BUS_KEY = process.env.UPGRADE_NO_KEY === '1';
/** How long a member may take to say `listening` (UPGRADE_START_MS; 30 s, more on a loaded host: at load 30–40 members of either build took longer). */
const START_MS = Number(process.env.UPGRADE_START_MS ?? 30_000);
export const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };

export interface Member { name: string; build: 'old' | 'new'; proc: ChildProcess; url: string; adminUrl: string; configPath: string; out: () => string; stop(): Promise<void> }

export function writeCfg(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'mixrun-'));
  const f = join(dir, 'p.yaml');
  writeFileSync(f, stringify(config));
  return f;
}

export async function startMember(name: string, build: 'old' | 'new', config: unknown, args: string[] = [], configPath?: string): Promise<Member> {
  const path = configPath ?? writeCfg(config);
  const cli = build === 'old' ? OLD_CLI : NEW_CLI;
  const proc = reap(spawn(process.execPath, [cli, 'serve', '--config', path, ...args], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const l = await new Promise<any>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not listening:\n${out}`)), START_MS);
    const check = (): void => {
      for (const line of out.split('\n')) { if (line.startsWith('{')) { try { const j = JSON.parse(line); if (j.msg === 'listening') { clearTimeout(t); resolve(j); return; } } catch { /* */ } } }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`${name} exited ${c}:\n${out}`)); });
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return {
    name, build, proc, url: `http://127.0.0.1:${l.port}`, adminUrl: `http://127.0.0.1:${l.adminPort}`, configPath: path, out: () => out,
    async stop() { if (proc.exitCode !== null || proc.signalCode !== null) return; proc.kill('SIGTERM'); const t = setTimeout(() => proc.kill('SIGKILL'), 15_000); await exited; clearTimeout(t); },
  };
}

export function cli(build: 'old' | 'new', args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = build === 'old' ? OLD_CLI : NEW_CLI;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [c, ...args], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; }); p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

export async function call(m: Member, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${m.url}/api/x`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}
export const isRevoked = (a: { status: number; challenge: string }): boolean => a.status === 401 && /revoked/.test(a.challenge);

export async function admin(m: Member, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await request(`${m.adminUrl}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const t = await r.body.text();
  let b: any = t; try { b = JSON.parse(t); } catch { /* */ }
  return { status: r.statusCode, body: b };
}

export async function metricsText(m: Member): Promise<string> {
  return (await request(`${m.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
}
export function pick(text: string, re: RegExp): string[] { return text.split('\n').filter((l) => re.test(l) && !l.startsWith('#')); }

export async function readyz(m: Member): Promise<{ status: number; body: any }> { return admin(m, 'GET', '/readyz'); }

/**
 * Does a member's /readyz body say it hears the whole cluster: `instances` proxies, `processes` of them answering
 * requests (a `--workers 2` instance: 1 and 2)? This build's `cluster.members` counts instances and
 * `serving_processes` the processes; a build without `serving_processes` counted the processes in `members`.
 */
export function hearsAll(body: any, instances: number, processes: number): boolean {
  const c = body?.cluster;
  if (c === undefined || c === null) return false;
  return 'serving_processes' in c ? c.members === instances && c.serving_processes === processes : c.members === processes;
}

export async function until(what: string, f: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) { if (await f()) return Date.now() - t0; await sleep(50); }
  throw new Error(`timeout: ${what}`);
}

export function config(asIssuer: string, upstream: string, nats: string, prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: asIssuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', timeout_ms: 3_000 } } },
    upstreams: { app: { targets: [upstream] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    cluster: { nats: { servers: [nats] }, subject_prefix: prefix, auth: NO_BUS_KEY ? { mode: 'none' } : BUS_AUTH },
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
    ...extra,
  };
}

/**
 * Single-flight across builds: 20 fresh opaque tokens, each sent to every member at once while the AS answers
 * slowly. Returns the tokens, the answers' statuses counted, and the AS calls they cost (one per token expected).
 */
export async function introspectEverywhere(as: AuthServer, members: Member[]): Promise<{ ops: string[]; statuses: Record<number, number>; answers: number; asCalls: number }> {
  const before = as.counters.introspection;
  const ops = Array.from({ length: 20 }, (_, i) => as.issueOpaque({ sub: `sf-${i}` }, 600));
  as.setIntrospection('slow', 200);
  const res = await Promise.all(ops.flatMap((t) => members.map((m) => call(m, t))));
  as.setIntrospection('normal');
  const statuses: Record<number, number> = {}; for (const r of res) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  return { ops, statuses, answers: res.length, asCalls: as.counters.introspection - before };
}
