// HAProxy 2.6 as the side-by-side peer: config generation (plain HTTP proxy, and a frontend that
// verifies bearer JWTs with jwt_verify), config check, start with `haproxy -f cfg -db`, version.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, waitForPort, type ManagedProcess } from './processes.js';

export const HAPROXY_BIN = '/usr/sbin/haproxy';

/** Algorithms the JWT frontend may allow: asymmetric only (an HMAC alg would turn the key path into the secret). */
export type JwtAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';
const ASYMMETRIC: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);

export interface JwtCheckOptions {
  /** PEM public key (or certificate) file; read by HAProxy when the config is parsed. */
  pubkeyPath: string;
  /** Allowlist checked against the token header's `alg` before jwt_verify. */
  algs: readonly JwtAlg[];
  /** Require `iss` to equal this (string claim). */
  issuer?: string;
  /** Require `aud` to equal this (HAProxy 2.6 compares a string claim; an array `aud` fails). */
  audience?: string;
  /** Require `exp` in the future (default true). jwt_verify checks the signature only. */
  checkExp?: boolean;
  /** Realm of the WWW-Authenticate challenge on 401 (default "portcullis-bench"). */
  realm?: string;
  /** Require this scope among the space-separated `scope` claim, else 403 insufficient_scope (as a route's `scopes.all: [s]`). */
  scope?: string;
  /**
   * Identity forwarding as Portcullis does it: delete client-sent headers starting with
   * `stripPrefix`, then set each header to the named (top-level) claim of the verified token.
   */
  identity?: { stripPrefix: string; headers: Readonly<Record<string, string>> };
}

export interface HaproxyConfigOptions {
  bind: { host: string; port: number };
  upstream: { host: string; port: number };
  /** Threads: as many as the CPUs HAProxy is pinned to. */
  nbthread: number;
  /** Global and frontend connection limit (default 4096; HAProxy needs ~2 fds per connection within `ulimit -n`). */
  maxconn?: number;
  jwt?: JwtCheckOptions;
  /** HTTP/2 sides (scenario h2): `bind: 'h2'` = h2c with prior knowledge on the frontend, `server: 'h2'` = h2c to the upstream. Absent: HTTP/1.1. */
  proto?: { bind?: 'h2'; server?: 'h2' };
  /** `option forwardfor`: append the client address as X-Forwarded-For, the work Portcullis does at its default `x_forwarded_for: append` (default false: HAProxy's own default). */
  forwardfor?: boolean;
}

/** Env switch of the HTTP/1.1 scenarios (passthrough, build-compare): `1` gives the HAProxy peer `option forwardfor`. */
export const HAPROXY_FORWARDFOR_ENV = 'PORTCULLIS_BENCH_HAPROXY_FORWARDFOR';

/** True when $PORTCULLIS_BENCH_HAPROXY_FORWARDFOR is `1`. */
export function haproxyForwardforFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[HAPROXY_FORWARDFOR_ENV] === '1';
}

/** A value HAProxy's config tokenizer reads verbatim: single-quoted, so '#', spaces and '"' stay literal. */
function quoted(what: string, v: string): string {
  if (v === '' || /['\n\r\\]/.test(v)) throw new Error(`haproxy config: ${what} must be non-empty, without quotes, backslashes or newlines: ${JSON.stringify(v)}`);
  return `'${v}'`;
}

/**
 * `http-request` lines that let a request through only with a valid bearer JWT, 401 otherwise
 * (HAProxy ≥ 2.5 syntax, checked on 2.6): bearer → header alg in the allowlist → jwt_verify == 1
 * → optional exp / iss / aud.
 */
export function haproxyJwtRules(j: JwtCheckOptions): string[] {
  if (j.algs.length === 0) throw new Error('haproxy jwt: algs must not be empty');
  for (const a of j.algs) if (!ASYMMETRIC.has(a)) throw new Error(`haproxy jwt: unsupported alg ${a}`);
  if (/["\s\\]/.test(j.pubkeyPath)) throw new Error(`haproxy jwt: key path must not contain quotes, spaces or backslashes: ${j.pubkeyPath}`);
  const realm = j.realm ?? 'portcullis-bench';
  if (!/^[\w.-]+$/.test(realm)) throw new Error(`haproxy jwt: realm must be [A-Za-z0-9_.-]: ${realm}`);
  const deny = `http-request deny deny_status 401 hdr WWW-Authenticate 'Bearer realm="${realm}", error="invalid_token"'`;
  const lines = [
    'http-request set-var(txn.bearer) http_auth_bearer',
    "http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('$.alg')",
    `${deny} unless { var(txn.jwt_alg) -m str ${j.algs.join(' ')} }`,
    `${deny} unless { var(txn.bearer),jwt_verify(txn.jwt_alg,"${j.pubkeyPath}") -m int 1 }`,
  ];
  if (j.checkExp ?? true) {
    lines.push('http-request set-var(txn.now) date');
    lines.push(`${deny} unless { var(txn.bearer),jwt_payload_query('$.exp','int'),sub(txn.now) -m int gt 0 }`);
  }
  if (j.issuer !== undefined) lines.push(`${deny} unless { var(txn.bearer),jwt_payload_query('$.iss') -m str ${quoted('issuer', j.issuer)} }`);
  if (j.audience !== undefined) lines.push(`${deny} unless { var(txn.bearer),jwt_payload_query('$.aud') -m str ${quoted('audience', j.audience)} }`);
  if (j.scope !== undefined) {
    if (!/^[A-Za-z0-9:_.-]+$/.test(j.scope)) throw new Error(`haproxy jwt: scope must be [A-Za-z0-9:_.-]: ${j.scope}`);
    // a whole space-separated word of the claim, not a substring ('orders:read' ≠ 'orders:reader')
    const word = j.scope.replace(/\./g, '[.]');
    lines.push(`http-request deny deny_status 403 hdr WWW-Authenticate 'Bearer realm="${realm}", error="insufficient_scope", scope="${j.scope}"' unless { var(txn.bearer),jwt_payload_query('$.scope') -m reg '(^| )${word}( |$)' }`);
  }
  if (j.identity !== undefined) {
    const { stripPrefix, headers } = j.identity;
    if (!/^[A-Za-z0-9-]+$/.test(stripPrefix)) throw new Error(`haproxy jwt: strip prefix must be [A-Za-z0-9-]: ${stripPrefix}`);
    lines.push(`http-request del-header ${stripPrefix} -m beg`);
    for (const [name, claim] of Object.entries(headers)) {
      if (!/^[A-Za-z0-9-]+$/.test(name)) throw new Error(`haproxy jwt: header name must be [A-Za-z0-9-]: ${name}`);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(claim)) throw new Error(`haproxy jwt: claim must be a top-level name: ${claim}`);
      lines.push(`http-request set-header ${name} %[var(txn.bearer),jwt_payload_query('$.${claim}')]`);
    }
  }
  return lines;
}

/** A complete haproxy.cfg: one HTTP frontend (optionally JWT-checking) to one upstream server, keep-alive both sides. */
export function haproxyConfig(o: HaproxyConfigOptions): string {
  if (!Number.isInteger(o.nbthread) || o.nbthread < 1) throw new Error(`haproxy config: nbthread must be an integer ≥ 1, got ${o.nbthread}`);
  const maxconn = o.maxconn ?? 4096;
  return [
    '# Generated by bench/haproxy.ts: HTTP/1.1 keep-alive proxy to one upstream.',
    'global',
    `  nbthread ${o.nbthread}`,
    `  maxconn ${maxconn}`,
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    ...(o.forwardfor === true ? ['  option forwardfor'] : []),
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 60s',
    `  maxconn ${maxconn}`,
    '',
    'frontend fe',
    `  bind ${o.bind.host}:${o.bind.port}${o.proto?.bind === 'h2' ? ' proto h2' : ''}`,
    ...(o.jwt !== undefined ? haproxyJwtRules(o.jwt).map((l) => `  ${l}`) : []),
    '  default_backend app',
    '',
    'backend app',
    // Idle server connections are shared across client connections, as the proxy's pool does.
    '  http-reuse always',
    `  server app ${o.upstream.host}:${o.upstream.port}${o.proto?.server === 'h2' ? ' proto h2' : ''}`,
    '',
  ].join('\n');
}

/** A peer that could not run, with the reason (also printed). */
export interface Skipped {
  skipped: true;
  reason: string;
}

export interface HaproxyPeer {
  skipped: false;
  url: string;
  port: number;
  version: string;
  configPath: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** "2.6.12-1+deb12u4", or undefined when the binary is missing or does not answer. */
export function haproxyVersion(bin = HAPROXY_BIN): string | undefined {
  try {
    const out = execFileSync(bin, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /version\s+(\S+)/i.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Write the config to a temp dir, check it (`haproxy -c`), start `haproxy -f cfg -db` pinned to
 * `cpus` and wait for the port. Missing binary → a Skipped marker; a config HAProxy rejects → throws.
 */
export async function startHaproxy(o: Omit<HaproxyConfigOptions, 'bind'> & { cpus?: readonly number[]; bin?: string; host?: string }): Promise<HaproxyPeer | Skipped> {
  const bin = o.bin ?? HAPROXY_BIN;
  if (!existsSync(bin)) {
    const reason = `haproxy not found at ${bin}; install it with: apt-get install -y haproxy`;
    process.stdout.write(`skip haproxy: ${reason}\n`);
    return { skipped: true, reason };
  }
  const host = o.host ?? '127.0.0.1';
  const port = await freePort(host);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-haproxy-'));
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, haproxyConfig({ ...o, bind: { host, port } }));
  try {
    execFileSync(bin, ['-c', '-q', '-f', configPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`haproxy rejected ${configPath}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const { process: proc } = await startProcess({ name: 'haproxy', command: bin, args: ['-f', configPath, '-db'], ...(o.cpus !== undefined ? { cpus: o.cpus } : {}) });
  try {
    await waitForPort(host, port, 10_000, proc.exited);
  } catch (err) {
    await proc.stop();
    throw new Error(`haproxy did not open ${host}:${port}: ${(err as Error).message}\n${proc.output()}`);
  }
  return {
    skipped: false, url: `http://${host}:${port}`, port, version: haproxyVersion(bin) ?? 'unknown', configPath, process: proc,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
