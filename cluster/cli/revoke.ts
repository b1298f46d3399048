// `portcullis revoke`: publish a revocation on NATS (JetStream, waits for the ack) when
// the config has `cluster.nats`, else POST it to the admin API. Tokens are hashed here:
// a raw token never leaves this process. On NATS it goes through cluster/revocation's
// publishOnce: the members' validation, bus key sealing (`cluster.auth`) and outbox.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { loadConfigFile, formatProblems, type Config } from '../../node/config/index.js';
// the one file, not the folder's index: that loads the policy watcher, the bus and the revocation store
import { readClusterPolicyConfig } from '../policy/policy-local-config.js';
import type { RevocationKind } from '../protocol/index.js';
import { clusterSettings, configuredIssuers, issuersReached, lingerFor, parseTime, publishOnce, revocationJson, type ClusterSettings } from '../revocation/index.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';
import { readStdinToken } from './stdin-token.js';
import { shownEnvName } from '../../node/contracts/index.js';

/** Help text for `portcullis revoke --help`. */
export const REVOKE_USAGE = `Usage: portcullis revoke (--jti ID | --token T | --sub S [--without-sid] [--before TIME] | --client ID [--before TIME] | --kid KID | --sid SID)
                         (--config FILE | --admin URL [--admin-token-env NAME])
                         [--issuer ISS] [--exp TIME] [--reason TEXT]

  --jti ID             revoke the token with this jti
  --token T            revoke this token (hashed locally with SHA-256; "-" reads it from stdin, at most 1 MiB)
  --sub S              revoke the subject's tokens issued up to and including the
                       second of --before (default now: every token issued so far)
  --without-sid        with --sub: only the subject's tokens that carry no sid claim
                       (what a session logout naming the user revokes besides the session)
  --client ID          the same for the client's tokens
  --kid KID            revoke every token signed with this key
  --sid SID            revoke every token whose sid claim is SID (an OpenID Connect session)
  --issuer ISS         only tokens whose iss is ISS (not with --token)
  --exp TIME           when the revoked token(s) expire, if known (the entry is dropped then)
  --reason TEXT        recorded with the revocation
  --config FILE        with cluster.nats: publish on NATS; otherwise use its admin listener
  --admin URL          admin API base URL (overrides the config's admin listener)
  --admin-token-env NAME  environment variable holding the admin bearer token
                       (default: the config's admin.token_env, else PORTCULLIS_ADMIN_TOKEN)

TIME is ISO 8601 with a zone (2024-05-01T12:00:00Z), a date (UTC midnight), epoch seconds, or "now".`;

/** RFC 6750 §2.1 b64token (the grammar of node/pipeline/b64token-memo.ts): the only token the proxy reads from a request (and hashes). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Admin token variable when neither --admin-token-env nor the config's admin.token_env names one (as in the README and deploy/). */
export const DEFAULT_ADMIN_TOKEN_ENV = 'PORTCULLIS_ADMIN_TOKEN';

const KIND_FLAGS = { jti: 'jti', token: 'token', sub: 'sub', client: 'client_id', kid: 'kid', sid: 'sid' } as const satisfies Record<string, RevocationKind>;
type KindFlag = keyof typeof KIND_FLAGS;

/** Run `portcullis revoke`. Throws UsageError (exit 2) for bad usage, Error (exit 1) when the revocation could not be delivered. */
export async function revoke(argv: string[], usage: string = REVOKE_USAGE): Promise<void> {
  const { values } = parseCommandLine('revoke', {
    args: argv,
    options: {
      jti: { type: 'string' }, token: { type: 'string' }, sub: { type: 'string' }, client: { type: 'string' }, kid: { type: 'string' }, sid: { type: 'string' },
      'without-sid': { type: 'boolean' }, before: { type: 'string' }, exp: { type: 'string' }, reason: { type: 'string' }, issuer: { type: 'string' },
      config: { type: 'string' }, admin: { type: 'string' }, 'admin-token-env': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  }, usage);
  if (values.help === true) { process.stdout.write(usage + '\n'); return; }

  const given = (Object.keys(KIND_FLAGS) as KindFlag[]).filter((f) => values[f] !== undefined);
  if (given.length === 0) throw new UsageError(`revoke: nothing to revoke: give one of --jti, --token, --sub, --client, --kid, --sid\n\n${usage}`);
  if (given.length > 1) throw new UsageError(`revoke: give exactly one of --jti, --token, --sub, --client, --kid, --sid (got ${given.map((g) => `--${g}`).join(' and ')})`);
  const flag = given[0]!;
  if (values['without-sid'] === true && flag !== 'sub') throw new UsageError('revoke: --without-sid only applies to --sub');
  const kind: RevocationKind = values['without-sid'] === true ? 'sub_without_sid' : KIND_FLAGS[flag];
  let value = String(values[flag]);
  let rawToken: string | null = null;
  if (value === '') throw new UsageError(`revoke: --${flag} needs a non-empty value`);
  if (values.before !== undefined && flag !== 'sub' && flag !== 'client') throw new UsageError('revoke: --before only applies to --sub and --client');
  if (values.issuer !== undefined && kind === 'token') throw new UsageError('revoke: --issuer does not apply to --token (the hash identifies the token)');

  const now = Date.now();
  const before = values.before === undefined ? undefined : timeOrUsage('--before', String(values.before), now);
  let exp = values.exp === undefined ? undefined : timeOrUsage('--exp', String(values.exp), now);
  if (kind === 'token') {
    // trimmed like the proxy trims the Authorization value around the token
    const raw = (value === '-' ? await readStdinToken('revoke') : value).trim();
    if (raw === '') throw new UsageError('revoke: --token: empty token');
    // the proxy hashes the b64token it read (RFC 6750 §2.1): the hash of anything else would revoke nothing
    if (/^(bearer|dpop)\s/i.test(raw)) throw new UsageError(`revoke: --token: give the token alone, without the "${raw.slice(0, raw.search(/\s/))} " scheme`);
    if (!B64TOKEN.test(raw)) throw new UsageError('revoke: --token: not a bearer token (RFC 6750 b64token: letters, digits, - . _ ~ + / and trailing =); no request carries it, so its hash would revoke nothing');
    exp ??= jwtExp(raw);
    rawToken = raw;
    value = createHash('sha256').update(raw).digest('hex');
  }
  const request: Record<string, unknown> = { kind, value };
  if (values.issuer !== undefined) request.issuer = values.issuer;
  if (before !== undefined) request.before = before;
  if (exp !== undefined) request.exp = exp;
  if (values.reason !== undefined) request.reason = values.reason;

  const adminUrl = values.admin === undefined ? undefined : adminBase(String(values.admin));
  const tokenEnv = values['admin-token-env'] === undefined ? undefined : String(values['admin-token-env']);
  if (values.config === undefined && adminUrl === undefined) throw new UsageError(`revoke: give --config FILE (NATS or its admin listener) or --admin URL\n\n${usage}`);
  let config: Config | undefined;
  if (values.config !== undefined) {
    // with `cluster.policy.source: cluster` the file holds the local part alone (as check-config reads it)
    const r = readClusterPolicyConfig(String(values.config)) ?? loadConfigFile(String(values.config));
    if (!r.ok) throw new UsageError(`revoke: invalid config ${String(values.config)}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
    config = r.config;
  }
  const settings = clusterSettings(config?.cluster);
  if (adminUrl === undefined && settings.nats !== null) {
    // the file's issuers are the policy unless the cluster holds it (then members check on their admin API only)
    const fromCluster = config!.cluster.policy?.source === 'cluster';
    // an --issuer nothing here can check: a typo would be published, stored and revoke nothing while the CLI said "revoked"
    if (fromCluster && values.issuer !== undefined) {
      throw new UsageError(`revoke: --issuer cannot be checked against ${String(values.config)}: it takes its policy (and issuers) from the cluster (cluster.policy.source: cluster); give --admin URL so a member checks it, or leave --issuer out to revoke for every issuer`);
    }
    await publishOnNats(request, settings, fromCluster ? undefined : configuredIssuers(config!), lingerFor(config) / 2);
    return;
  }
  const base = adminUrl ?? `http://${loopbackFor(config!.admin.listen.host)}:${config!.admin.listen.port}`;
  const envName = tokenEnv ?? config?.admin.token_env ?? DEFAULT_ADMIN_TOKEN_ENV;
  // own keys only: `toString`, `constructor`… are on process.env's prototype, a function is no token
  const bearer = Object.hasOwn(process.env, envName) ? process.env[envName] : undefined;
  if (bearer === undefined || bearer === '') {
    const hint = tokenEnv === undefined && config?.admin.token_env === undefined ? ': export it, or name another variable with --admin-token-env NAME' : '';
    throw new UsageError(`revoke: environment variable ${shownEnvName(envName)} (admin token) is not set${hint}`);
  }
  await postToAdmin(base, bearer, request, rawToken);
}

function timeOrUsage(flag: string, text: string, now: number): number {
  const t = parseTime(text, now);
  if (!t.ok) throw new UsageError(`revoke: ${flag}: ${t.message}`);
  return t.seconds;
}

/** The `exp` of a JWT-shaped token, read without verification (only to bound the entry's life); undefined otherwise. */
function jwtExp(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp) && payload.exp * 1000 > Date.now() ? Math.floor(payload.exp) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The --admin value as a base URL; a UsageError (exit 2) for anything but http(s) without
 * credentials, query or fragment. The value is never echoed: a mistyped one may hold a password, and fetch's own
 * error for `http://user:pass@host` printed it back.
 */
function adminBase(text: string): string {
  let u: URL;
  try { u = new URL(text); } catch { throw new UsageError('revoke: --admin: not a URL (the value is not shown; expected e.g. http://127.0.0.1:9901)'); }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError('revoke: --admin: only http:// or https:// URLs (the value is not shown)');
  if (u.username !== '' || u.password !== '') {
    throw new UsageError('revoke: --admin: a URL with user:password is refused, and not shown (the admin API takes a bearer token: --admin-token-env NAME, default PORTCULLIS_ADMIN_TOKEN)');
  }
  // a key pasted as `?api_key=…` was printed in "cannot reach the admin API at …" (and the call went to `?…/revocations`)
  if (u.search !== '' || u.hash !== '' || text.includes('?') || text.includes('#')) {
    throw new UsageError('revoke: --admin: a URL with a query or fragment is refused, and not shown (the admin API\'s base URL is scheme, host and port, e.g. http://127.0.0.1:9901)');
  }
  return text;
}

function loopbackFor(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

async function publishOnNats(request: Record<string, unknown>, settings: ClusterSettings, knownIssuers: readonly string[] | undefined, skewS: number): Promise<void> {
  const origin = `cli-${hostname().replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 48)}`;
  const r = await publishOnce(request, { settings, origin, skewS, ...(knownIssuers === undefined ? {} : { knownIssuers }) });
  switch (r.kind) {
    case 'refused': throw new UsageError(`revoke: ${r.errors.join('; ')}`);
    case 'failed': throw new Error(r.message);
    case 'stored':
      process.stdout.write(`revoked ${r.record.kind} ${r.record.value} (id ${r.record.id}, stream ${r.stream} seq ${r.seq}${r.duplicate ? ', stored once: an earlier copy of it (an attempt whose answer was lost, or the live copy) was stored first' : ''})\n`);
      noteEveryIssuer(r.record.issuer === null, r.record.kind, issuersReached(r.record, knownIssuers));
      return;
    default: { const never: never = r; return never; }
  }
}

/** `text` with every occurrence of each non-empty secret replaced by `[redacted]`. */
function redact(text: string, secrets: ReadonlyArray<string | null>): string {
  for (const s of secrets) if (s !== null && s.length > 0) text = text.split(s).join('[redacted]');
  return text;
}

/** POST the revocation; `rawToken` (for --token) is only used to keep it out of what is printed. */
async function postToAdmin(base: string, bearer: string, request: Record<string, unknown>, rawToken: string | null): Promise<void> {
  const url = `${base.replace(/\/+$/, '')}/revocations`;
  let res: Response;
  try {
    // never followed: the admin API does not redirect, so one means a wrong URL — following it
    // re-sent the revocation elsewhere and printed "revoked" on whatever answered there
    res = await fetch(url, { method: 'POST', redirect: 'manual', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(request), signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    // fetch's own message is "fetch failed": the reason (ECONNREFUSED, ENOTFOUND, a timeout) is its cause
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : null;
    throw new Error(`cannot reach the admin API at ${url}: ${(err as Error).message}${why !== null ? ` (${why})` : ''}`);
  }
  if (res.status >= 300 && res.status < 400) throw new Error(`admin API answered ${res.status}: a redirect (not followed; is ${url} the admin listener?), nothing was revoked`);
  const text = await res.text();
  let body: { revocation?: ReturnType<typeof revocationJson>; message?: string; persisted?: boolean | null; issuers_reached?: unknown } = {};
  try { body = JSON.parse(text) as typeof body; } catch { /* reported below */ }
  // Only the admin API's own `message` is shown, and never a credential in it: whatever answers at
  // a mistyped URL may echo the request (the admin token in Authorization) back in its body.
  const said = typeof body.message === 'string' ? redact(body.message.slice(0, 500), [bearer, rawToken]) : `(${Buffer.byteLength(text)} bytes of ${res.headers.get('content-type') ?? 'no content type'}, not shown)`;
  if (res.status === 400) throw new UsageError(`revoke: refused by the admin API: ${said}`);
  if (res.status !== 201 || body.revocation === undefined) throw new Error(`admin API answered ${res.status}: ${said}`);
  const r = body.revocation;
  process.stdout.write(`revoked ${String(r.kind)} ${String(r.value)} (id ${String(r.id)}${body.persisted === false ? ', not yet persisted: the proxy retries' : ''})\n`);
  noteEveryIssuer(r.issuer === null, String(r.kind), body.issuers_reached);
}

/**
 * On stderr, when a revocation without --issuer reaches two or more configured issuers: tenants (realms, staging and
 * prod) name their users, clients and keys independently, so the operator learns it refused each one's `alice`.
 */
function noteEveryIssuer(unscoped: boolean, kind: string, reached: unknown): void {
  if (!unscoped || !Array.isArray(reached) || reached.length < 2) return;
  const flag = kind === 'client_id' ? 'client' : kind;
  process.stderr.write(`note: no --issuer, so this ${flag} is revoked at every configured issuer (${reached.length}: ${reached.map(String).join(', ')}); each names its own users, clients and keys — give --issuer ISS to revoke one issuer's\n`);
}
