// What the token scenarios start besides the passthrough parts: the authorization server in its
// own process (tokens, JWKS, introspection), a Portcullis config that verifies tokens, the PEM
// key file HAProxy's jwt_verify reads, the admin counters, and probes that a target serves a
// valid token and refuses bad ones before it is loaded.
import { createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MintRequest } from './auth-server-process.js';
import type { JwtAlg, JwtCheckOptions } from './haproxy.js';
import { authServerProcessPath, validatorPath } from './paths.js';
import { jsonLine, startProcess, type ManagedProcess } from './processes.js';
import { probe } from './targets.js';

/** Claims every bench token carries unless a probe overrides them (the AS adds iss, iat, exp, jti). */
export const BENCH_AUDIENCE = 'portcullis-demo';
export const BENCH_SCOPE = 'orders:read';
/** Portcullis' default identity mapping (config `identity.headers`); HAProxy's matched config sets the same. */
export const IDENTITY_HEADERS: Readonly<Record<string, string>> = { 'X-Auth-Subject': 'sub', 'X-Auth-Scopes': 'scope', 'X-Auth-Client-Id': 'client_id', 'X-Auth-Issuer': 'iss' };
export const IDENTITY_STRIP_PREFIX = 'x-auth-';
/** The signing algorithms the token scenarios compare (`PORTCULLIS_BENCH_JWT_ALG`). */
export type BenchJwtAlg = 'RS256' | 'ES256';
/** Environment variables the Portcullis token config names (secrets by `*_env`, never inline). */
export const ADMIN_TOKEN_ENV = 'PORTCULLIS_BENCH_ADMIN_TOKEN';
export const INTROSPECTION_SECRET_ENV = 'PORTCULLIS_BENCH_INTROSPECTION_SECRET';
/** The embedded AS's built-in client for introspection (cluster/cli/demo/auth-server DEFAULT_CLIENTS). */
const INTROSPECTION_CLIENT = { id: 'portcullis', secret: 'portcullis-secret' };

export interface AuthServerProcess {
  url: string;
  issuer: string;
  jwksUri: string;
  process: ManagedProcess;
  mint(m: MintRequest): Promise<string[]>;
  /** Requests the AS received per endpoint since start (or the last reset). */
  counters(): Promise<{ jwks: number; introspection: number; token: number; discovery: number }>;
  stop(): Promise<void>;
}

function controlCall<T>(port: number, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) { reject(new Error(`auth server control ${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`)); return; }
        try { resolve(JSON.parse(text) as T); } catch (err) { reject(err as Error); }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * Start `node dist/bench/auth-server-process.js` (RS256 + ES256 keys), unpinned so minting can
 * use every core; pin it afterwards with pinPid. Throws with the build hint when it is missing.
 */
/**
 * The bench's JWT validator (bench/jwt-validator.ts: node:http + jose; signature, iss, aud, exp,
 * scope) for `as`'s tokens, pinned to `cpus`, ready once it printed its port: the auth service
 * behind nginx's auth_request in jwt-warm (nginx-cached) and forward-auth (nginx+validator).
 */
export async function startJwtValidatorProcess(as: { jwksUri: string; issuer: string }, alg: string, cpus: readonly number[]): Promise<{ process: ManagedProcess; port: number }> {
  const { process: proc, ready } = await startProcess({
    name: 'jwt-validator', command: process.execPath, args: [validatorPath(), as.jwksUri, as.issuer, BENCH_AUDIENCE, BENCH_SCOPE, alg],
    ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'), cpus,
  });
  return { process: proc, port: ready.port };
}

export async function startAuthServerProcess(): Promise<AuthServerProcess> {
  const script = authServerProcessPath();
  if (!existsSync(script)) throw new Error(`compiled auth server process missing at ${script}: run "npm run build"`);
  const { process: proc, ready } = await startProcess({
    name: 'auth-server', command: process.execPath, args: [script],
    ready: jsonLine<{ url: string; issuer: string; controlPort: number }>((o) => typeof o.controlPort === 'number'),
  });
  const port = ready.controlPort;
  return {
    url: ready.url, issuer: ready.issuer, jwksUri: `${ready.url}/jwks`, process: proc,
    mint: async (m) => (await controlCall<{ tokens: string[] }>(port, 'POST', '/mint', m)).tokens,
    counters: () => controlCall(port, 'GET', '/counters'),
    stop: () => proc.stop(),
  };
}

/** The issuer's current public key for `alg` as an SPKI PEM (what HAProxy's jwt_verify reads). */
export async function publicKeyPem(jwksUri: string, alg: JwtAlg): Promise<string> {
  const res = await fetch(jwksUri);
  if (!res.ok) throw new Error(`JWKS ${jwksUri}: ${res.status}`);
  const { keys } = (await res.json()) as { keys: Array<JsonWebKey & { alg?: string }> };
  const jwk = keys.filter((k) => k.alg === alg).pop();
  if (jwk === undefined) throw new Error(`JWKS ${jwksUri} has no ${alg} key`);
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
}

/** A temp dir holding files HAProxy reads at start (the PEM key); `cleanup` removes it. */
export function tempFile(name: string, content: string): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-key-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TokenConfigOptions {
  upstreamPort: number;
  issuer: string;
  algorithms: readonly JwtAlg[];
  /** `verifier.pool_size`: worker threads verifying signatures. */
  poolSize: number;
  /** `verifier.cache_entries`: verified tokens (and introspection results) kept. */
  cacheEntries: number;
  /** Add the issuer's RFC 7662 introspection (opaque tokens), endpoint from discovery. */
  introspection?: boolean;
  /** `verifier.mode` (auto, pool, inline); left out when undefined, so a build without the key accepts the config. */
  verifierMode?: string;
  /** `server.workers`: proxy processes sharing the port (the primary serves admin, aggregating them); default 1. */
  workers?: number;
}

/**
 * What every token scenario's config starts with: one worker, admin with the bench token, the
 * issuer `bench` (`issuerExtra` appended to its block, e.g. an introspection line), upstream
 * `app`. Ends after the upstream; callers add `routes:` and the rest.
 */
export function benchConfigHead(issuer: string, algorithms: readonly string[], upstreamPort: number, issuerExtra = '', workers = 1): string {
  return `server:
  listen: { host: 127.0.0.1, port: 0 }
  workers: ${workers}
admin:
  listen: { host: 127.0.0.1, port: 0 }
  token_env: ${ADMIN_TOKEN_ENV}
issuers:
  bench:
    issuer: ${JSON.stringify(issuer)}
    audiences: [${BENCH_AUDIENCE}]
    algorithms: [${algorithms.join(', ')}]${issuerExtra}
upstreams:
  app:
    targets: ["http://127.0.0.1:${upstreamPort}"]`;
}

/**
 * The token config: one issuer (discovery → JWKS), one route `/*` requiring scope orders:read
 * (default identity headers forwarded, client copies stripped), one worker process (`workers`), access log off.
 */
export function tokenConfigYaml(o: TokenConfigOptions): string {
  const intro = o.introspection === true
    ? `\n    introspection: { client_id: ${INTROSPECTION_CLIENT.id}, client_secret_env: ${INTROSPECTION_SECRET_ENV} }`
    : '';
  return `${benchConfigHead(o.issuer, o.algorithms, o.upstreamPort, intro, o.workers ?? 1)}
routes:
  - name: api
    match: { path: "/*" }
    upstream: app
    auth: { scopes: { all: [${BENCH_SCOPE}] } }
verifier: { pool_size: ${o.poolSize}, cache_entries: ${o.cacheEntries}${o.verifierMode === undefined ? '' : `, mode: ${o.verifierMode}`} }
log: { level: info, access: false }
`;
}

/** Environment for a Portcullis started with tokenConfigYaml: a fresh admin token and the AS client secret. */
export function tokenConfigEnv(): { env: Record<string, string>; adminToken: string } {
  const adminToken = randomBytes(16).toString('base64url');
  return { adminToken, env: { [ADMIN_TOKEN_ENV]: adminToken, [INTROSPECTION_SECRET_ENV]: INTROSPECTION_CLIENT.secret } };
}

/** GET /cache/stats on the admin port: flat counters (`jwt.*`, `introspection.*`). */
export async function adminStats(adminPort: number, adminToken: string): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/cache/stats`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!res.ok) throw new Error(`admin /cache/stats: ${res.status}`);
  return (await res.json()) as Record<string, number>;
}

/**
 * The TokenCounters of a `--workers N` primary, from GET /metrics (Prometheus text, summed over
 * the workers by the primary): its admin API has no /cache/stats, which is one process's view.
 */
export async function adminMetricsCounters(adminPort: number, adminToken: string): Promise<TokenCounters> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!res.ok) throw new Error(`admin /metrics: ${res.status}`);
  return metricsTokenCounters(await res.text());
}

/** Pure: TokenCounters from Prometheus text (every sample of a series summed; absent = 0). */
export function metricsTokenCounters(text: string): TokenCounters {
  const sum = (series: string): number => {
    let n = 0;
    for (const line of text.split('\n')) if (line.startsWith(series + ' ')) n += Number(line.slice(series.length + 1).trim().split(' ')[0]);
    return n;
  };
  return {
    verifyOk: sum('portcullis_jwt_verified_total'),
    cacheHits: sum('portcullis_jwt_cache_lookups_total{result="hit"}'),
    cacheMisses: sum('portcullis_jwt_cache_lookups_total{result="miss"}'),
    poolTasks: sum('portcullis_verifier_pool_tokens_total'),
    poolBatches: sum('portcullis_verifier_pool_batches_total'),
    verifyInline: sum('portcullis_jwt_verifications_total{where="inline"}'),
    inlineSpills: sum('portcullis_jwt_inline_budget_spills_total'),
  };
}

/** Retry `GET url` with `headers` until `200 hello` (keys or the introspection endpoint still loading); throws with the last answer. */
export async function waitUntilServing(name: string, url: string, headers: Record<string, string>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const r = await probe(url, headers);
      if (r.status === 200 && r.body === 'hello') return;
      last = `${r.status} ${JSON.stringify(r.body.slice(0, 200))}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > until) throw new Error(`${name} (${url}) did not answer 200 "hello" with a valid token within ${timeoutMs} ms; last: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A bad token and the status a checking proxy must answer. */
export interface RefusalProbe { what: string; token: string; status: 401 | 403 }

/** Pure: the token with one signature character changed (middle of the signature: the last character may only carry padding bits). */
export function tamperSignature(token: string): string {
  const i = token.lastIndexOf('.') + 10;
  if (i >= token.length) throw new Error('token has no signature to tamper with');
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

/**
 * Send each bad token to the target; resolves with the probes it did not refuse as expected
 * (status differs). `skip` names probes the target is not configured to refuse.
 */
export async function refusalsMissed(url: string, probes: readonly RefusalProbe[], skip: ReadonlySet<string> = new Set()): Promise<string[]> {
  const missed: string[] = [];
  for (const p of probes) {
    if (skip.has(p.what)) continue;
    const r = await probe(url, { authorization: `Bearer ${p.token}` });
    if (r.status !== p.status) missed.push(`${p.what}: ${r.status} (expected ${p.status})`);
  }
  return missed;
}

/** Mint the bad tokens every JWT target is probed with (one each). */
export async function jwtRefusalProbes(as: AuthServerProcess, alg: BenchJwtAlg, good: string): Promise<RefusalProbe[]> {
  const one = async (claims: Record<string, unknown>, ttlSeconds?: number): Promise<string> =>
    (await as.mint({ kind: 'jwt', alg, count: 1, claims, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }))[0]!;
  return [
    { what: 'tampered signature', token: tamperSignature(good), status: 401 },
    // past the proxy's 60 s clock skew
    { what: 'expired', token: await one({}, -600), status: 401 },
    { what: 'wrong aud', token: await one({ aud: 'someone-else' }), status: 401 },
    { what: 'wrong iss', token: await one({ iss: 'https://evil.example' }), status: 401 },
    { what: 'missing scope', token: await one({ scope: 'orders:write' }), status: 403 },
  ];
}

/**
 * Pure: what each side checks per request, for the tables. Portcullis' column is its token
 * config above; `haproxy` is the matched HAProxy config, `haproxy-min` the signature + exp/iss/aud one.
 */
export function checksTable(alg: BenchJwtAlg, portcullisSignature: string): string {
  const rows: Array<[string, string, string, string]> = [
    ['signature', portcullisSignature, 'jwt_verify, every request (PEM file)', 'jwt_verify, every request'],
    [`alg allowlist (${alg})`, 'yes (none/HS* always refused)', 'yes', 'yes'],
    ['key selection', 'kid → JWKS key (refetch on unknown kid)', 'one PEM key', 'one PEM key'],
    ['exp', 'yes, 60 s skew; + nbf, iat not in future', 'yes (no skew)', 'yes (no skew)'],
    ['iss', 'exact', 'exact', 'exact'],
    ['aud', 'string or array', 'string only', 'string only'],
    ['crit header', 'refused', '—', '—'],
    [`scope ${BENCH_SCOPE}`, 'yes → 403', 'yes (regex word) → 403', '—'],
    ['revocation', 'yes (local set, cluster-fed)', '—', '—'],
    ['identity headers', `strip ${IDENTITY_STRIP_PREFIX}*, set ${Object.keys(IDENTITY_HEADERS).length} from claims`, `del-header ${IDENTITY_STRIP_PREFIX} -m beg, set-header × ${Object.keys(IDENTITY_HEADERS).length}`, '—'],
  ];
  return [
    '| check (per request) | portcullis | haproxy | haproxy-min |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export interface TokenCounters {
  /** Tokens verified (signature checked) by the process during the whole scenario. */
  verifyOk: number;
  cacheHits: number;
  cacheMisses: number;
  /** Tokens handed to the verifier pool, and the batches they travelled in. */
  poolTasks: number;
  poolBatches: number;
  /** Signature checks run inline on the event loop (verifier.mode auto/inline); absent from builds without it. */
  verifyInline?: number;
  /** Of the tokens auto meant to verify inline, those the per-turn budget sent to the pool. */
  inlineSpills?: number;
}

/** Pure: the JWT counters of an admin /cache/stats answer. */
export function tokenCounters(st: Record<string, number>): TokenCounters {
  return { verifyOk: st['jwt.verify_ok'] ?? 0, cacheHits: st['jwt.cache_hits'] ?? 0, cacheMisses: st['jwt.cache_misses'] ?? 0, poolTasks: st['jwt.pool_tasks'] ?? 0, poolBatches: st['jwt.pool_batches'] ?? 0, verifyInline: st['jwt.verify_inline'] ?? 0, inlineSpills: st['jwt.verify_inline_spills'] ?? 0 };
}

/** Pure: what happened between two counter snapshots. */
export function counterDelta(a: TokenCounters, b: TokenCounters): TokenCounters {
  return { verifyOk: b.verifyOk - a.verifyOk, cacheHits: b.cacheHits - a.cacheHits, cacheMisses: b.cacheMisses - a.cacheMisses, poolTasks: b.poolTasks - a.poolTasks, poolBatches: b.poolBatches - a.poolBatches, verifyInline: (b.verifyInline ?? 0) - (a.verifyInline ?? 0), inlineSpills: (b.inlineSpills ?? 0) - (a.inlineSpills ?? 0) };
}

/** Pure: the JwtCheckOptions of the matched (`full`) and minimal HAProxy peers. */
export function haproxyJwtChecks(pubkeyPath: string, alg: BenchJwtAlg, issuer: string, full: boolean): JwtCheckOptions {
  const base: JwtCheckOptions = { pubkeyPath, algs: [alg], issuer, audience: BENCH_AUDIENCE, checkExp: true };
  return full ? { ...base, scope: BENCH_SCOPE, identity: { stripPrefix: IDENTITY_STRIP_PREFIX, headers: IDENTITY_HEADERS } } : base;
}
