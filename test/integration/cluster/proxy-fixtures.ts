// Shared pieces of the suites that run real proxy processes on a bus: the admin API call,
// one warm proxy with its authorization server and upstream for a file, a member config (one JWT route on /api/*, or a public route beside it), a call to it, a /metrics reader, revocation rounds, polling for an async condition, what a revocation refusal looks like, a JWT's jti.
import { afterAll, beforeAll, expect } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { clusterMemberConfig } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { sleep } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

/** A proxy config on `upstream` with the given `cluster` section. */
export function memberConfig(as: AuthServer, upstream: string, cluster: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [upstream] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    cluster,
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

/**
 * A member config with a public and a protected route on `upstream`: `/public/*` needs no token,
 * `/api/*` a token of `as` (issuer `demo`, audience portcullis-demo, `issuerExtra` keys added);
 * `cluster` as given, log `level` (default warn) without access lines.
 */
export function publicApiConfig(as: AuthServer, upstream: string, cluster: Record<string, unknown>, issuerExtra: Record<string, unknown> = {}, level = 'warn'): Record<string, unknown> {
  return clusterMemberConfig({
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], ...issuerExtra } },
    upstreams: { app: { targets: [upstream] } },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
    ],
    cluster,
    log: { level, access: false },
  });
}

/**
 * One proxy started from memberConfig (no bus unless `cluster` names one) that already answers 200 to
 * a token of `as`: the first token makes it fetch the issuer's JWKS, which on a busy machine can outlast
 * the fetch timeout (503, fail-closed), so a warm-up token is retried for up to 10 s.
 * `warmTtlSeconds`: the warm-up token's lifetime (default the authorization server's).
 */
export async function startWarmProxy(as: AuthServer, upstream: string, cluster: Record<string, unknown> = {}, warmTtlSeconds?: number): Promise<ProxyProcess> {
  const proxy = await startProxy(memberConfig(as, upstream, cluster), { env: ADMIN_ENV });
  const warm = await as.issueJwt({ sub: 'warm-up' }, warmTtlSeconds === undefined ? {} : { ttlSeconds: warmTtlSeconds });
  for (let i = 0; i < 40 && (await call(proxy, warm)).status !== 200; i++) await sleep(250);
  return proxy;
}

/** The demo authorization server, echo upstream and one startWarmProxy on them (no bus): started before the calling file's (or describe's) tests, stopped after them. */
export function warmProxyStand(): { readonly as: AuthServer; readonly echo: EchoUpstream; readonly proxy: ProxyProcess } {
  let as: AuthServer | undefined;
  let echo: EchoUpstream | undefined;
  let proxy: ProxyProcess | undefined;
  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    proxy = await startWarmProxy(as, echo.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });
  const ready = <T>(v: T | undefined, what: string): T => { if (v === undefined) throw new Error(`warm proxy stand: ${what} used before beforeAll`); return v; };
  return { get as() { return ready(as, 'as'); }, get echo() { return ready(echo, 'echo'); }, get proxy() { return ready(proxy, 'proxy'); } };
}

/** GET /api/x with the token, on a fresh connection (so `--workers` processes share them). */
export async function call(p: ProxyProcess, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

/** Every sample of `family` at `p` whose labels contain `labels` (e.g. `path="thread"`), summed. */
export async function metric(p: ProxyProcess, family: string, labels = ''): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(family)) continue;
    const rest = line.slice(family.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{')) || !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** `rounds` times: a fresh token accepted everywhere, revoked at the first member, then refused at every other. */
export async function revokeAtFirst(members: readonly ProxyProcess[], issue: () => Promise<string>, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const token = await issue();
    for (const p of members) expect((await call(p, token)).status).toBe(200);
    expect((await admin(members[0]!, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    for (const p of members.slice(1)) await waitFor(`revoked at ${p.url}`, async () => revoked(await call(p, token)), 10_000);
  }
}

/** A bearer answer counts as "revoked": 401 invalid_token whose description says revoked. */
export const revoked = (a: { status: number; challenge: string }): boolean =>
  a.status === 401 && /error="invalid_token"/.test(a.challenge) && /revoked/.test(a.challenge);

/** The `jti` claim of a JWT (no verification). */
export const jtiOf = (t: string): string => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).jti as string;

/** `method path` on the proxy's admin listener with the admin token; JSON body both ways. */
export async function admin(p: ProxyProcess, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await request(`${p.adminUrl}${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.statusCode, body: await r.body.json() };
}

