// `portcullis explain --token` for a token the running proxy refuses as revoked: revocations live
// in the members' stores, not in FILE, so the CLI asks the instance at FILE's admin listener
// (loopback only). Before, it judged FILE alone and said ALLOWED (exit 0) where the proxy answered
// 401; with no instance to ask, the verdict now says revocations were not checked.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, runCli, writeConfig, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { deadPort } from '../../helpers/upstreams.js';
import { freePort } from '../../helpers/nats.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let file: string;
let proxy: ProxyProcess;
let adminPort: number;

const ROUTES = [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }];
const config = (port: number): Record<string, unknown> => baseConfig(echo.url, {
  admin: { listen: { host: '127.0.0.1', port }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' }, issuers: { demo: issuerFor(as) }, routes: ROUTES, verifier: { pool_size: 1 },
});

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/explain-revoked' }), startEchoUpstream()]);
  // explain finds the instance by FILE's admin listener, so it needs a fixed port
  adminPort = await freePort();
  file = writeConfig(config(adminPort));
  proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('explain --token and revocations', () => {
  it('a token revoked at the running instance: the proxy answers 401 and explain says DENIED (401) revoked, exit 1', async () => {
    const token = await as.issueJwt({ sub: 'mallory', scope: 'orders:read' });
    const kept = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const rv = await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'mallory' });
    expect(rv.status, rv.text).toBe(201);
    expect((await call(`${proxy.url}/orders/1`, { token })).status).toBe(401);
    expect((await call(`${proxy.url}/orders/1`, { token: kept })).status).toBe(200);

    const [revoked, allowed] = await Promise.all([
      runCli(['explain', '--config', file, 'GET', '/orders/1', '--token', token], ADMIN_ENV),
      runCli(['explain', '--config', file, 'GET', '/orders/1', '--token', kept], ADMIN_ENV),
    ]);
    expect(revoked.code, revoked.stdout + revoked.stderr).toBe(1);
    expect(revoked.stdout).toMatch(/verdict\s+DENIED \(401\).*revoked/);
    expect(revoked.stdout).not.toContain('ALLOWED');
    // the token rule says it failed, not "pass" above a DENIED verdict
    expect(revoked.stdout).toMatch(new RegExp(`FAIL\\s+token — refused by the instance at http://127\\.0\\.0\\.1:${adminPort}: revoked`));
    expect(revoked.stdout).not.toMatch(/pass\s+token/);
    expect(allowed.code, allowed.stdout + allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/verdict\s+ALLOWED \(200\)/);
    expect(allowed.stdout).toContain(`revocations checked at http://127.0.0.1:${adminPort}: not revoked`);
  });

  it('--json carries the same verdict', async () => {
    const token = await as.issueJwt({ sub: 'trudy', scope: 'orders:read' });
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'trudy' })).status).toBe(201);
    const r = await runCli(['explain', '--config', file, 'GET', '/orders/1', '--token', token, '--json'], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { allowed: boolean; status: number; token: { ok: boolean; reason: string } };
    expect(j).toMatchObject({ allowed: false, status: 401, token: { ok: false, reason: 'revoked' } });
  });

  it('no instance at FILE\'s admin listener: the verdict says revocations were not checked', async () => {
    const token = await as.issueJwt({ sub: 'bob', scope: 'orders:read' });
    const alone = writeConfig(config(await deadPort()));
    const r = await runCli(['explain', '--config', alone, 'GET', '/orders/1', '--token', token], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verdict\s+ALLOWED \(200\)/);
    expect(r.stdout).toMatch(/revocations NOT checked: no instance answered at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('an admin listener that accepts and never answers: explain ends, naming the address and the 5 s it waited', async () => {
    const token = await as.issueJwt({ sub: 'hung', scope: 'orders:read' });
    const hung = createServer(() => { /* accepts, never answers */ });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hung.address() as AddressInfo).port;
      const r = await runCli(['explain', '--config', writeConfig(config(port)), 'GET', '/orders/1', '--token', token], ADMIN_ENV);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`revocations NOT checked: the instance at http://127.0.0.1:${port} did not answer within 5 s`);
    } finally {
      hung.closeAllConnections();
      hung.close();
    }
  });
});
