// nginx as a bench peer (Debian's, with the auth_request module): a generated config in front
// of the cheap upstream that asks an auth service on every request — Portcullis's decision
// endpoint (no cache, as deploy/edge/nginx.conf) or a validator behind a proxy_cache — run as
// one pinned foreground process (no master, one worker) so it gets the same CPU as HAProxy.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, waitForPort, type ManagedProcess } from './processes.js';

export const NGINX_BIN = '/usr/sbin/nginx';

export interface NginxAuthOptions {
  upstreamPort: number;
  /** The auth service: host port and the path the auth subrequest calls. */
  authPort: number;
  /** The auth service on a unix-domain socket instead of authPort. */
  authSocket?: string;
  authPath: string;
  /** Cache 200 verdicts keyed by Authorization for this many seconds (0: no cache). */
  cacheTtlS: number;
  /** nginx worker processes (default 1: one process, no master; more: a master and N workers). */
  workers?: number;
  /**
   * Append the client address to X-Forwarded-For (`$proxy_add_x_forwarded_for`), the work Portcullis does at its
   * default `x_forwarded_for: append` and HAProxy does with `option forwardfor` (default false: nginx's own default,
   * which forwards no X-Forwarded-For of its own).
   */
  forwardfor?: boolean;
}

/** Pure: the nginx.conf of an auth_request front (identity headers copied, client copies of those four replaced; X-Forwarded-For appended when `forwardfor`). */
export function nginxAuthConfig(o: NginxAuthOptions & { dir: string; port: number }): string {
  const cache = o.cacheTtlS > 0;
  const ids = [['X-Auth-Subject', 'x_auth_subject'], ['X-Auth-Scopes', 'x_auth_scopes'], ['X-Auth-Client-Id', 'x_auth_client_id'], ['X-Auth-Issuer', 'x_auth_issuer']];
  return [
    'daemon off;', ...((o.workers ?? 1) > 1 ? ['master_process on;', `worker_processes ${o.workers};`, `user ${userInfo().username};`] : ['master_process off;', 'worker_processes 1;']), `error_log ${join(o.dir, 'error.log')} error;`, `pid ${join(o.dir, 'nginx.pid')};`,
    'events { worker_connections 4096; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(o.dir, t)};`),
    ...(cache ? [`  proxy_cache_path ${join(o.dir, 'authcache')} levels=1 keys_zone=auth:10m max_size=100m inactive=60s use_temp_path=off;`] : []),
    `  upstream app { server 127.0.0.1:${o.upstreamPort}; keepalive 64; }`,
    `  upstream auth { server ${o.authSocket !== undefined ? `unix:${o.authSocket}` : `127.0.0.1:${o.authPort}`}; keepalive 64; }`,
    '  server {',
    `    listen 127.0.0.1:${o.port};`,
    '    location / {',
    '      auth_request /_auth;',
    ...ids.flatMap(([h, v]) => [`      auth_request_set $${v} $upstream_http_${v};`, `      proxy_set_header ${h} $${v};`]),
    '      proxy_http_version 1.1;', '      proxy_set_header Connection "";',
    ...(o.forwardfor === true ? ['      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'] : []),
    '      proxy_pass http://app;',
    '    }',
    '    location = /_auth {',
    '      internal;',
    `      proxy_pass http://auth${o.authPath};`,
    '      proxy_pass_request_body off;', '      proxy_set_header Content-Length "";',
    '      proxy_set_header X-Original-URI $request_uri;', '      proxy_set_header X-Original-Method $request_method;',
    '      proxy_set_header Host $http_host;',
    '      proxy_http_version 1.1;', '      proxy_set_header Connection "";',
    ...(cache ? ['      proxy_cache auth;', '      proxy_cache_key $http_authorization;', `      proxy_cache_valid 200 ${o.cacheTtlS}s;`, '      proxy_cache_lock on;'] : []),
    '    }',
    '  }',
    '}',
  ].join('\n');
}

export interface NginxPeer { url: string; port: number; process: ManagedProcess; stop(): Promise<void> }

/** Start nginx with nginxAuthConfig pinned to `cpus`; null with the install hint when the binary is missing. */
export async function startNginxAuth(o: NginxAuthOptions, cpus?: readonly number[]): Promise<NginxPeer | { skipped: string }> {
  if (!existsSync(NGINX_BIN)) return { skipped: `nginx not found at ${NGINX_BIN}; install it with: apt-get install -y nginx` };
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxAuthConfig({ ...o, dir, port }));
  const { process: proc } = await startProcess({ name: 'nginx', command: NGINX_BIN, args: ['-p', dir, '-c', conf], ...(cpus !== undefined ? { cpus } : {}) });
  try {
    await waitForPort('127.0.0.1', port, 10_000, proc.exited);
  } catch (err) {
    await proc.stop();
    throw new Error(`nginx did not open port ${port}: ${(err as Error).message}\n${proc.output()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`, port, process: proc,
    async stop() { await proc.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}
