// The environment a config needs before it may start or be reloaded: every `*_env` variable set
// and non-empty (DPoP nonce secret, bus keys, an exposed admin token long enough), every `*_file`
// readable, listener TLS files and the internal signing key loadable. One walk: serve, reload, check-config, explain.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MIN_KEY_BYTES, shownEnvName } from '../contracts/index.js';
import { MIN_NONCE_SECRET_BYTES } from '../dpop/nonce.js';
import { readProblem, type ConfigProblem } from './problem.js';
import { tlsFileProblems } from './tls-files.js';
import { checkKeyType, parsePrivateKey } from '../s2s/key-ring.js';
import type { SecretField } from './local-secrets.js';
import type { Config } from './schema.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The variable `name` holds, or undefined when it is not set. Own keys only: `toString`, `constructor`… are on
 * every object's prototype (process.env's too), and a function found there passed for a set variable.
 */
function envValue(env: Environment, name: string): string | undefined {
  return Object.hasOwn(env, name) ? env[name] : undefined;
}

/** `*_file` fields the proxy creates when the file is missing: read when it exists, else its folder must take a new file. */
const CREATED_WHEN_MISSING: ReadonlySet<string> = new Set(['internal_tokens.key_file', 'cluster.revocation.snapshot_file', 'cluster.policy.state_file']);

type Visit = (path: string, kind: 'env' | 'file', value: string) => void;
type Found = ReadonlyArray<readonly [suffix: string, kind: 'env' | 'file', value: string]>;

/**
 * The fields `walk` finds in a frozen object, by path suffix: a frozen object cannot change, so
 * its fields are found once. A pushed policy version reuses the frozen parse of every unchanged
 * route (validate-reusing.ts), so each version walks only its new routes.
 */
const foundIn = new WeakMap<object, Found>();

/** Calls `visit` for every string field whose key ends in `_env` or `_file`, with its dotted config path. */
function walk(v: unknown, path: string, visit: Visit): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => walkElement(x, `${path}[${i}]`, visit));
    return;
  }
  walkFields(v, path, visit);
}

/** An array element: a frozen object's fields come from (or go into) foundIn. */
function walkElement(v: unknown, path: string, visit: Visit): void {
  if (v === null || typeof v !== 'object' || !Object.isFrozen(v)) {
    walk(v, path, visit);
    return;
  }
  let found = foundIn.get(v);
  if (found === undefined) {
    const list: Array<readonly [string, 'env' | 'file', string]> = [];
    walk(v, '', (at, kind, value) => list.push([at, kind, value]));
    foundIn.set(v, (found = list));
  }
  for (const [suffix, kind, value] of found) visit(suffix === '' ? path : suffix.startsWith('[') ? path + suffix : `${path}.${suffix}`, kind, value);
}

function walkFields(v: unknown, path: string, visit: Visit): void {
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    const at = path === '' ? k : `${path}.${k}`;
    if (typeof x === 'string' && k.endsWith('_env')) visit(at, 'env', x);
    else if (typeof x === 'string' && k.endsWith('_file')) visit(at, 'file', x);
    else walk(x, at, visit);
  }
}

/**
 * `*_file` fields the proxy rewrites while it runs (a temp file beside it, renamed over it): their folder must take
 * writes — judged at start only (stateFolderProblems), as these paths are restart-only (restart-only.ts).
 */
const REWRITTEN: readonly string[] = ['cluster.revocation.snapshot_file', 'cluster.policy.state_file'];

/**
 * Why `file` cannot be read, or null when it can. A missing file is fine for CREATED_WHEN_MISSING paths when
 * its folder takes a new file (a REWRITTEN file's folder: stateFolderProblems, at start).
 */
function fileProblem(path: string, file: string): string | null {
  try {
    if (!statSync(file).isFile()) return `${file} is not a file`;
    accessSync(file, constants.R_OK);
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && CREATED_WHEN_MISSING.has(path)) return REWRITTEN.includes(path) ? null : folderProblem(file);
    return `cannot read ${file}: ${readProblem(file, err as NodeJS.ErrnoException)}`;
  }
}

/**
 * At start (serve, check-config: LoadOptions.stateFolders): each file the proxy rewrites while it runs whose folder does not take a new
 * file, whether or not the file exists (else every write failed at run time, logged, while check-config had
 * said ok). Not on a reload or a pushed policy version: these paths are restart-only, so neither can change
 * them, and refusing would only freeze the running config — before, a state folder removed or read-only
 * while a member ran made it refuse every pushed version (serving the old policy) and every reload.
 * `beforeStart` (check-config): a missing folder a service manager makes at start (madeAtStart) is left to serve.
 */
function stateFolderProblems(config: Config, beforeStart: boolean): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const [path, file] of stateFiles(config)) {
    const unitMade = madeAtStart(file);
    if (beforeStart && unitMade) continue;
    const problem = folderProblem(file);
    // serve under a unit without the directive: name it (before, only the missing folder was named)
    if (problem !== null) out.push({ path, message: unitMade ? `${problem}; under systemd the unit needs ${unitDirective(dirname(resolve(file)))}` : problem });
  }
  return out;
}

/** The files the proxy creates or rewrites at run time, by config path: snapshot, policy state file, decision socket. */
function stateFiles(config: Config): Array<readonly [string, string]> {
  const c = (config as { cluster?: { revocation?: { snapshot_file?: unknown }; policy?: { state_file?: unknown } } }).cluster;
  // the decision socket too (made at start): before, check-config said ok for /run/portcullis/decision.sock with no
  // /run/portcullis, and serve then stopped with a bare "cannot listen" (the unit restarting it until its start limit)
  const socket = (config as { server?: { decision?: { unix_socket?: { path?: unknown } } } }).server?.decision?.unix_socket?.path;
  const files: ReadonlyArray<readonly [string, unknown]> = [[REWRITTEN[0]!, c?.revocation?.snapshot_file], [REWRITTEN[1]!, c?.policy?.state_file], ['server.decision.unix_socket.path', socket]];
  return files.filter((f): f is readonly [string, string] => typeof f[1] === 'string');
}

/**
 * Where systemd makes a unit's folders when it starts it: RuntimeDirectory= under /run (removed again at
 * stop), StateDirectory= under /var/lib. Such a folder is missing while the unit is stopped (or not yet started once).
 */
const MADE_AT_START: readonly string[] = ['/run/', '/var/lib/'];

/** True when `file`'s folder is missing and lies where a service manager makes folders at start (MADE_AT_START). */
function madeAtStart(file: string): boolean {
  const dir = dirname(resolve(file));
  if (!MADE_AT_START.some((p) => dir.startsWith(p))) return false;
  try {
    statSync(dir);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * check-config, before the unit starts: each state file or socket whose folder is missing where systemd makes
 * folders at start — a warning naming the directive (serve still refuses the start, exit 2, when it is missing then).
 */
export function madeAtStartWarnings(config: Config): ConfigProblem[] {
  return stateFiles(config).filter(([, file]) => madeAtStart(file)).map(([path, file]) => {
    const dir = dirname(resolve(file));
    return { path, message: `${dir} does not exist yet: systemd makes it when the unit starts if the unit has ${unitDirective(dir)}; serve refuses to start (exit 2) while it is still missing` };
  });
}

/** The systemd directive that makes `dir` (under MADE_AT_START) at start: `RuntimeDirectory=portcullis` for /run/portcullis. */
function unitDirective(dir: string): string {
  return dir.startsWith('/run/') ? `RuntimeDirectory=${dir.slice('/run/'.length)}` : `StateDirectory=${dir.slice('/var/lib/'.length)}`;
}

/** Why the proxy could not create a file in `file`'s folder (missing, not a folder, read-only), or null. */
function folderProblem(file: string): string | null {
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) return `cannot write ${file}: ${dir} is not a directory`;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'read-only file system (EROFS)' : readProblem(dir, err as NodeJS.ErrnoException);
    return `cannot write ${file}: its folder ${dir}: ${why}`;
  }
}

export { shownEnvName };

/** Every string field whose key ends in `_env` or `_file`, with its dotted path (node/config/local-secrets.ts judges them). */
export function secretFields(config: unknown): SecretField[] {
  const out: SecretField[] = [];
  walk(config, '', (path, kind, value) => out.push([path, kind, value]));
  return out;
}

/**
 * Every problem with the environment `config` names, each with its config path:
 * `issuers.main.introspection.client_secret_env: environment variable X is not set`,
 * `server.tls.cert_file: cannot read /etc/tls.crt: no such file (ENOENT)`. Fields are found by name (any
 * key ending in `_env` or `_file`), so a new secret or file field is covered without a change
 * here (add a file the proxy creates itself to CREATED_WHEN_MISSING). Never reports a
 * variable's value. Empty list = the config can start. `stateFolders` (serve and check-config at start): also
 * stateFolderProblems.
 */
export function checkEnvironment(config: Config, env: Environment = process.env, opts: { stateFolders?: boolean | 'before-start' } = {}): ConfigProblem[] {
  const out: ConfigProblem[] = opts.stateFolders === undefined || opts.stateFolders === false ? [] : stateFolderProblems(config, opts.stateFolders === 'before-start');
  walk(config, '', (path, kind, name) => {
    if (kind === 'file') {
      const problem = fileProblem(path, name);
      if (problem !== null) out.push({ path, message: problem });
      return;
    }
    const value = envValue(env, name);
    if (value === undefined) out.push({ path, message: `environment variable ${shownEnvName(name)} is not set` });
    else if (value === '') out.push({ path, message: `environment variable ${shownEnvName(name)} is empty` });
  });
  const nonce = config.dpop?.nonce?.secret_env;
  const secret = nonce === undefined ? undefined : envValue(env, nonce);
  if (nonce !== undefined && secret !== undefined && secret !== '') {
    const bytes = Buffer.byteLength(secret, 'utf8');
    if (bytes < MIN_NONCE_SECRET_BYTES) out.push({ path: 'dpop.nonce.secret_env', message: `${shownEnvName(nonce)} must hold at least ${MIN_NONCE_SECRET_BYTES} bytes (has ${bytes})` });
  }
  out.push(...busKeyProblems(config, env));
  out.push(...adminTokenProblems(config, env));
  out.push(...tlsFileProblems(config, env));
  out.push(...internalKeyProblems(config));
  return out;
}

/**
 * An existing internal_tokens.key_file must hold the key serve signs with: a PEM or private JWK of
 * internal_tokens.alg's type (a missing file is created; an unreadable one is the walk's). Before,
 * check-config said ok and serve exited 1 on it.
 */
function internalKeyProblems(config: Config): ConfigProblem[] {
  const it = (config as { internal_tokens?: { key_file?: unknown; alg?: unknown } }).internal_tokens;
  if (typeof it?.key_file !== 'string') return [];
  let text: string;
  try { text = readFileSync(it.key_file, 'utf8'); } catch { return []; }
  try {
    checkKeyType(parsePrivateKey(text, it.key_file), it.alg === 'EdDSA' ? 'EdDSA' : 'ES256', it.key_file);
    return [];
  } catch (err) {
    return [{ path: 'internal_tokens.key_file', message: (err as Error).message }];
  }
}

/** Bytes an admin token needs when the admin API listens beyond loopback (a network can guess at it). */
export const MIN_EXPOSED_ADMIN_TOKEN_BYTES = 16;

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: addresses only this host reaches. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * What keeps a (non-empty) admin or metrics token out of any request, or null. The admin listener
 * reads `Bearer <visible ASCII>` (node:http decodes header bytes as latin-1): a trailing newline (a
 * Kubernetes Secret made from a file), a space, a control or a non-ASCII character can never match.
 */
function unpresentable(value: string): string | null {
  if (/^\s+$/.test(value)) return 'only whitespace';
  if (/[\r\n]\s*$/.test(value)) return 'a trailing newline';
  if (/\s/.test(value)) return 'whitespace';
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'a control character';
  if (/[^\u0021-\u007e]/.test(value)) return 'a non-ASCII character';
  return null;
}

/**
 * An admin or metrics token short enough to guess, on an admin API other hosts can reach (0.0.0.0
 * in a container or pod, a host address): refused — the admin token guards /policy, /reload and
 * /revocations, and nothing slows a guesser down. On loopback any non-empty token is accepted.
 * A metrics token equal to the admin token is refused anywhere: it would carry every admin right.
 */
function adminTokenProblems(config: Config, env: Environment): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const admin = config.admin?.token_env;
  const metrics = config.admin?.metrics_token_env;
  const adminValue = admin === undefined ? undefined : envValue(env, admin);
  const metricsValue = metrics === undefined ? undefined : envValue(env, metrics);
  // a schema-invalid document (refused anyway) may lack admin.listen or mistype it: read as its
  // default, loopback, so the other errors are listed instead of a crash on the missing field
  const host: unknown = (config.admin as { listen?: { host?: unknown } | null } | undefined)?.listen?.host;
  const exposed = typeof host === 'string' && !isLoopback(host);
  if (metricsValue !== undefined && metricsValue !== '' && metricsValue === adminValue) {
    out.push({ path: 'admin.metrics_token_env', message: `${shownEnvName(metrics!)} holds the admin token (${shownEnvName(admin!)}): a scrape token must be its own secret, or it carries every admin right` });
  }
  for (const [path, name, value] of [['admin.token_env', admin, adminValue], ['admin.metrics_token_env', metrics, metricsValue]] as const) {
    const unsendable = value === undefined ? null : unpresentable(value);
    if (unsendable !== null) out.push({ path, message: `${shownEnvName(name!)} holds ${unsendable}: an \`Authorization: Bearer\` header carries visible ASCII only, so no client could present this token and every call needing it would answer 401 (the value is not shown)` });
    if (value === undefined || value === '' || unsendable !== null || !exposed) continue;
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes >= MIN_EXPOSED_ADMIN_TOKEN_BYTES) continue;
    out.push({ path, message: `${shownEnvName(name!)} must hold at least ${MIN_EXPOSED_ADMIN_TOKEN_BYTES} bytes when the admin API listens beyond loopback (has ${bytes}); e.g. openssl rand -base64 32` });
  }
  return out;
}

/**
 * Bus keys shorter than the HMAC needs (the member would refuse to start with exit 1 — after
 * check-config said ok, and in a loop under a supervisor). Read as cluster/protocol/bus-keys.ts
 * reads them: a variable's UTF-8 bytes, a file's text without trailing whitespace. Unset
 * variables and unreadable files are reported by the walk above.
 */
function busKeyProblems(config: Config, env: Environment): ConfigProblem[] {
  // null in a schema-invalid document (`auth:` left empty), refused anyway
  const auth = config.cluster?.auth as NonNullable<Config['cluster']>['auth'] | null | undefined;
  if (auth === undefined || auth === null || auth.mode === 'none') return [];
  const out: ConfigProblem[] = [];
  const short = (path: string, what: string, bytes: number): void => {
    if (bytes < MIN_KEY_BYTES) out.push({ path, message: `${what} must hold at least ${MIN_KEY_BYTES} bytes (has ${bytes}); e.g. openssl rand -base64 48` });
  };
  for (const [field, name] of [['key_env', auth.key_env], ['previous_key_env', auth.previous_key_env]] as const) {
    const value = name === undefined ? undefined : envValue(env, name);
    if (value !== undefined && value !== '') short(`cluster.auth.${field}`, shownEnvName(name!), Buffer.byteLength(value, 'utf8'));
  }
  for (const [field, file] of [['key_file', auth.key_file], ['previous_key_file', auth.previous_key_file]] as const) {
    if (file === undefined) continue;
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    short(`cluster.auth.${field}`, `the key in ${file}`, Buffer.byteLength(text.replace(/\s+$/, ''), 'utf8'));
  }
  return out;
}
