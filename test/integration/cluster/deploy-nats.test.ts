// deploy/nats/nats-server.conf (with the permissions.conf it includes, which every NATS config
// under deploy/ includes) on a real nats-server: two proxies as user `portcullis` share
// revocations (stream and live) and introspection results; `portcullis revoke` as user
// `portcullis-revoke` revokes at both; that user cannot publish a cache fill — not even one
// sealed with the bus key it holds — nor read the bus; a connection without credentials is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { connect, Events, type NatsConnection } from 'nats';
import { request } from 'undici';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServerWithConfig, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, BUS_KEY, ROOT, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, jtiOf } from './proxy-fixtures.js';
import { sourceValue } from '../../../node/metrics/index.js';
import { waitFor } from '../../helpers/wait.js';

const PASSWORDS = { PORTCULLIS_NATS_PASSWORD: `proxy-${randomUUID()}`, PORTCULLIS_NATS_REVOKE_PASSWORD: `revoke-${randomUUID()}` };
const ENV = { ...ADMIN_ENV, ...BUS_ENV, ...PASSWORDS, PT_INTROSPECTION_SECRET: 'portcullis-secret' };
const DEPLOYED = readFileSync(join(ROOT, 'deploy', 'nats', 'nats-server.conf'), 'utf8');
const PERMISSIONS = join(ROOT, 'deploy', 'nats', 'permissions.conf');

/** The deployed file for a server whose config lives beside `storeDir`: nats-server resolves an include relative to the config's directory, even an absolute one. */
function deployedNatsConf(storeDir: string): string {
  expect(DEPLOYED).toContain('include ./permissions.conf');
  return DEPLOYED
    .replace('store_dir: /var/lib/nats/jetstream', `store_dir: "${storeDir}"`)
    .replace('include ./permissions.conf', `include "${relative(dirname(storeDir), PERMISSIONS)}"`);
}

async function call(p: ProxyProcess, token: string): Promise<number> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
  await r.body.dump();
  return r.statusCode;
}

async function clusterMetric(p: ProxyProcess, name: string): Promise<number> {
  const r = await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  // the family a cluster counter is exported as (node/metrics/component-families.ts), in the counter's own unit
  const v = sourceValue(await r.body.text(), `cluster.${name}`);
  return Number.isNaN(v) ? -1 : v;
}

/** Errors the server reported on `nc` (permission violations arrive asynchronously). */
function serverErrors(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => { for await (const s of nc.status()) if (s.type === Events.Error) seen.push(String(s.data)); })();
  return seen;
}

describe('deploy/nats/nats-server.conf + permissions.conf: per-user permissions', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  const proxies: ProxyProcess[] = [];
  const proxyNats = (url: string): Record<string, unknown> => ({ servers: [url], user: 'portcullis', password_env: 'PORTCULLIS_NATS_PASSWORD', inbox_prefix: '_INBOX_portcullis' });
  const revokeNats = (url: string): Record<string, unknown> => ({ servers: [url], user: 'portcullis-revoke', password_env: 'PORTCULLIS_NATS_REVOKE_PASSWORD', inbox_prefix: '_INBOX_revoke' });
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    nats = await startNatsServerWithConfig((at) => deployedNatsConf(at.storeDir), PASSWORDS);
    const config = {
      server: { listen: { host: '127.0.0.1', port: 0 } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET' } } },
      upstreams: { app: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      cluster: { nats: proxyNats(nats.url), auth: BUS_AUTH }, // the deployed prefix: portcullis
      log: { level: 'warn', access: false },
      verifier: { pool_size: 1 },
    };
    const start = async (): Promise<ProxyProcess> => { const p = await startProxy(config, { env: ENV, timeoutMs: 30_000 }); proxies.push(p); return p; };
    [A, B] = await Promise.all([start(), start()]);
    for (const p of proxies) await waitFor('ready', async () => (await request(`${p.adminUrl}/readyz`)).statusCode === 200, 20_000);
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('proxies as `portcullis`: the stream is created and read, revocations and introspection results are shared', async () => {
    const tok = await as.issueJwt({ sub: 'perm' });
    expect(await call(B, tok)).toBe(200);
    const r = await admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(true);
    await waitFor('B to refuse it', async () => (await call(B, tok)) === 401, 5_000);

    const opaque = as.issueOpaque({ sub: 'svc', scope: 'x' });
    const before = as.counters.introspection;
    expect(await call(A, opaque)).toBe(200);
    await waitFor('B to receive the fill', async () => (await clusterMetric(B, 'cluster_cache_fills_received_total')) >= 1, 5_000);
    expect(await call(B, opaque)).toBe(200);
    expect(as.counters.introspection - before).toBe(1);
  });

  it('`portcullis revoke` as `portcullis-revoke` reaches both proxies', async () => {
    const tok = await as.issueJwt({ sub: 'dora', iat: Math.floor(Date.now() / 1000) - 30 });
    for (const p of proxies) expect(await call(p, tok)).toBe(200);
    const cliConfig = writeConfig({
      upstreams: { u: { targets: ['http://127.0.0.1:9'] } },
      routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }],
      cluster: { nats: revokeNats(nats.url), auth: BUS_AUTH },
    });
    const cli = await runCli(['revoke', '--sub', 'dora', '--config', cliConfig], ENV);
    expect(cli.code, cli.stderr).toBe(0);
    for (const p of proxies) await waitFor('the CLI revocation', async () => (await call(p, tok)) === 401, 5_000);
  });

  it('cluster policy as `portcullis`: `policy push` with a member\'s config creates and fills the policy bucket, a member with source: cluster starts on it and applies the next push', async () => {
    const local = {
      server: { listen: { host: '127.0.0.1', port: 0 } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      cluster: { nats: proxyNats(nats.url), auth: BUS_AUTH, policy: { source: 'cluster' } },
      log: { level: 'warn', access: false },
    };
    const policy = (scopes: string[]): string => writeConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      upstreams: { app: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: scopes.length === 0 ? {} : { scopes: { all: scopes } } }],
      verifier: { pool_size: 1 },
    });
    const cliConfig = writeConfig(local);
    const first = await runCli(['policy', 'push', '--config', cliConfig, '--policy', policy([])], ENV, 30_000);
    expect(first.code, first.stderr).toBe(0);
    const P = await startProxy(local, { env: ENV, timeoutMs: 30_000 });
    proxies.push(P);
    await waitFor('the cluster-policy member to be ready', async () => (await request(`${P.adminUrl}/readyz`)).statusCode === 200, 20_000);
    const tok = await as.issueJwt({ scope: 'orders:read' });
    expect(await call(P, tok)).toBe(200);
    const second = await runCli(['policy', 'push', '--config', cliConfig, '--policy', policy(['orders:write'])], ENV, 30_000);
    expect(second.code, second.stderr).toBe(0);
    await waitFor('version 2 to be applied', async () => (await call(P, tok)) === 403, 10_000);
    const status = await runCli(['policy', 'status', '--config', cliConfig, '--json'], ENV, 30_000);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { members: Array<{ version: number }> }).members.map((m) => m.version)).toEqual([2]);
  });

  it('the revoke user cannot publish a cache fill (even sealed with the bus key it holds) nor read the bus; no credentials, no connection', async () => {
    const nc = await connect({ servers: nats.url, user: 'portcullis-revoke', pass: PASSWORDS.PORTCULLIS_NATS_REVOKE_PASSWORD, inboxPrefix: '_INBOX_revoke' });
    const errors = serverErrors(nc);
    try {
      const token = `revoke-user-fill-${randomUUID()}`;
      const subject = 'portcullis.cache.introspection';
      const fill = new Codec().encode({
        type: 'cache.filled', v: 1, key: createHash('sha256').update(token).digest('hex'), issuer: 'demo', active: true,
        claims: { sub: 'admin', scope: 'admin', iss: as.issuer }, expiresAt: Date.now() + 60_000, origin: 'revoke-user',
      });
      const received = await clusterMetric(A, 'cluster_cache_fills_received_total');
      nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, fill));
      const sub = nc.subscribe('portcullis.>');
      const subEnd = (async () => { try { for await (const _ of sub) { /* nothing may arrive */ } return 'ended'; } catch (e) { return (e as Error).message; } })();
      await nc.flush();
      // one for the publish, one for the subscription (which the server closes)
      await waitFor('both violations to be reported', async () => errors.filter((e) => /PERMISSIONS_VIOLATION/.test(e)).length >= 2, 5_000);
      expect(await subEnd).toMatch(/Permissions Violation for Subscription to "portcullis\.>"/);
      expect(await call(A, token)).toBe(401);
      expect(await clusterMetric(A, 'cluster_cache_fills_received_total')).toBe(received);
    } finally {
      await nc.close();
    }
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toThrow(/authorization/i);
  });
});
