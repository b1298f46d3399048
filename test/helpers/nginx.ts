// A real nginx (Debian's) as an upstream for tests that need nginx's own reading of a
// request path: one foreground process (no master, no daemon) with a generated config in a
// temp directory. A missing binary fails the test with the install command.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = [process.env.NGINX_BIN, '/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'];

/** Path of the nginx binary; throws naming the install command when there is none. */
export function nginxBinary(): string {
  for (const c of CANDIDATES) if (c !== undefined && c !== '' && existsSync(c)) return c;
  throw new Error('nginx not found (looked in /usr/sbin, /usr/bin, /usr/local/sbin, $NGINX_BIN): install it with `apt-get install -y nginx`');
}

/** startNginx found one of its ports taken by another process (it was free when picked): pick new ones and start again. */
export class NginxPortTaken extends Error {
  constructor(log: string) { super(`nginx could not bind a port (taken after it was picked):\n${log}`); }
}

export interface Nginx {
  /** Everything nginx wrote to its error log so far. */
  errors(): string;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Start nginx with `servers` (the text of `server { … }` blocks) inside an http block that
 * keeps every temp file in a fresh directory. Resolves once every port in `ports` accepts.
 */
export async function startNginx(servers: string, ports: readonly number[]): Promise<Nginx> {
  const bin = nginxBinary();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, [
    'daemon off;', 'master_process off;', 'worker_processes 1;', `error_log ${join(dir, 'error.log')} warn;`, `pid ${join(dir, 'nginx.pid')};`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;', '  default_type text/plain;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`),
    servers,
    '}',
  ].join('\n'));
  const proc: ChildProcess = spawn(bin, ['-p', dir, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const errors = (): string => { try { return out + readFileSync(join(dir, 'error.log'), 'utf8'); } catch { return out; } };
  const end = Date.now() + 10_000;
  for (;;) {
    // a port another process took after the caller picked it (freePort, then a bind): that process
    // answers on it, so "every port accepts" would pass while nginx retries and then exits
    if (/Address already in use/.test(errors())) {
      proc.kill('SIGKILL'); await exited; rmSync(dir, { recursive: true, force: true });
      throw new NginxPortTaken(errors());
    }
    if (proc.exitCode !== null) throw new Error(`nginx exited at start:\n${errors()}`);
    if ((await Promise.all(ports.map(portOpen))).every(Boolean)) {
      // nginx logs a failed bind at once; give it a moment to say so before trusting the open ports
      await new Promise((r) => setTimeout(r, 100));
      if (!/Address already in use/.test(errors()) && proc.exitCode === null) break;
      continue;
    }
    if (Date.now() > end) { proc.kill('SIGKILL'); throw new Error(`nginx did not listen within 10 s:\n${errors()}`); }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    errors,
    async stop() {
      if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
