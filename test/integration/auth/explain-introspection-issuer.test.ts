// `portcullis explain --token` for an issuer with both keys and introspection: a JWT is judged as the
// running proxy judges it, by its keys, with no authorization-server call. Before, explain judged once
// the introspection endpoint was known, before the keys came: every JWT was introspected ("opaque token").
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { runCli, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';
import { deadPort } from '../../helpers/upstreams.js';
import { issuerFor } from './policy-fixtures.js';
import { introspection, SECRET_ENV } from './tokens-helpers.js';

let as: AuthServer;
const ROUTES = [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }];
const ENV = { ...ADMIN_ENV, ...SECRET_ENV };
const explain = (file: string, token: string): ReturnType<typeof runCli> => runCli(['explain', '--config', file, 'GET', '/orders/1', '--token', token], ENV);

beforeAll(async () => {
  as = await startAuthServer({ issuerPath: '/realms/explain-introspection' });
});

afterAll(async () => {
  await as?.close();
});

describe('explain --token, issuer with keys and introspection', () => {
  it('a JWT is verified by the keys (jwt token, no introspection call); an opaque token is introspected', async () => {
    const file = writeConfig(baseConfig('http://127.0.0.1:9', { issuers: { demo: issuerFor(as, { introspection: introspection() }) }, routes: ROUTES, verifier: { pool_size: 1 } }));
    const jwt = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:read' });
    as.resetCounters();
    const j = await explain(file, jwt);
    expect(j.code, j.stdout + j.stderr).toBe(0);
    expect(j.stdout).toMatch(/pass\s+token — jwt token from issuer demo/);
    expect(j.stdout).toMatch(/verdict\s+ALLOWED \(200\)/);
    expect(as.counters.introspection).toBe(0);

    const o = await explain(file, opaque);
    expect(o.code, o.stdout + o.stderr).toBe(0);
    expect(o.stdout).toMatch(/pass\s+token — opaque token from issuer demo/);
    expect(as.counters.introspection).toBe(1);
  }, 60_000);

  it('keys that cannot be fetched: the JWT is introspected, as the proxy does, and allowed', async () => {
    const file = writeConfig(baseConfig('http://127.0.0.1:9', {
      issuers: { demo: issuerFor(as, { jwks_uri: `http://127.0.0.1:${await deadPort()}/jwks`, introspection: introspection({ endpoint: as.introspectionEndpoint }) }) },
      routes: ROUTES, verifier: { pool_size: 1 },
    }));
    const jwt = await as.issueJwt({ sub: 'carol', scope: 'orders:read' });
    as.resetCounters();
    const r = await explain(file, jwt);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/not available/);
    expect(r.stdout).toMatch(/pass\s+token — opaque token from issuer demo/);
    expect(as.counters.introspection).toBe(1);
  }, 60_000);
});
