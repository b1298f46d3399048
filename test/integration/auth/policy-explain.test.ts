// `portcullis explain` (the CLI, with tokens judged against a live authorization server),
// admin POST /explain (same verdict as JSON), and /readyz reporting per-issuer readiness
// that turns 200 once the keys are loaded.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, runCli, writeConfig, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let file: string;
let proxy: ProxyProcess;
let reader: string; // scope orders:read, tenant acme

const ROUTES = [
  { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
  { name: 'api-host', match: { path: '/*', host: 'api.example.com' }, upstream: 'app', auth: 'none' },
  { name: 'orders-read', match: { path: '/orders/*', methods: ['GET'] }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
  { name: 'orders-write', match: { path: '/orders/*', methods: ['POST', 'PUT', 'DELETE'] }, upstream: 'app', auth: { scopes: { all: ['orders:write'] } } },
  { name: 'tenant', match: { path: '/tenants/:tenant/*' }, upstream: 'app', auth: { claims: [{ claim: 'tenant', equals_param: 'tenant' }] } },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/explain' }), startEchoUpstream()]);
  file = writeConfig(baseConfig(echo.url, { issuers: { demo: issuerFor(as) }, routes: ROUTES, verifier: { pool_size: 1 } }));
  proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
  reader = await as.issueJwt({ sub: 'alice', scope: 'orders:read', tenant: 'acme' });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

// the config names the admin token variable: explain, like serve, refuses a config whose variables are unset
const explain = (...args: string[]): ReturnType<typeof runCli> => runCli(['explain', '--config', file, ...args], ADMIN_ENV);

// The issuer nobody answers for keeps one CLI process waiting 10 s: that case runs beside the others
// (suites side by side, describe.concurrent); the others still run one after another
// (it.sequential), since each starts CLI processes (a loaded 2-core machine times them out in a crowd).
describe.concurrent('portcullis explain: an issuer nobody answers for', () => {
  it.sequential('with --token and an issuer nobody answers for: says so and exits 1, not 0 with no output', async () => {
    const dead = writeConfig(baseConfig(echo.url, {
      issuers: { demo: { issuer: 'http://127.0.0.1:9/realms/gone', audiences: ['portcullis-demo'] } }, routes: ROUTES, verifier: { pool_size: 1 },
    }));
    const r = await runCli(['explain', '--config', dead, 'GET', '/orders/42', '--token', reader], ADMIN_ENV);
    expect(r.stderr).toMatch(/not available within 10 s/);
    expect(r.stdout).toMatch(/verdict/);
    expect(r.code, r.stdout + r.stderr).toBe(1);
  }, 60_000); // the CLI waits its 10 s by design; on a crowded 2-core machine its start-up alone took 20 s
});

describe.concurrent('portcullis explain', () => {
  it.sequential('prints the route, each rule with pass/FAIL and the verdict; exit 0 allowed, 1 denied', async () => {
    const [noToken, allowed, wrongScope, otherTenant] = await Promise.all([
      explain('GET', '/orders/42'),
      explain('GET', '/orders/42', '--token', reader),
      explain('POST', '/orders/42', '--token', reader),
      explain('get', '/tenants/other/x', '--token', reader),
    ]);

    expect(noToken.code, noToken.stderr).toBe(1);
    expect(noToken.stdout).toMatch(/route\s+orders-read/);
    expect(noToken.stdout).toMatch(/FAIL\s+token/);
    expect(noToken.stdout).toMatch(/verdict\s+DENIED \(401\)/);

    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/route\s+orders-read → upstream app/);
    expect(allowed.stdout).toMatch(/token\s+valid \(demo, fingerprint [0-9a-f]+\)/);
    expect(allowed.stdout).toMatch(/pass\s+scopes\.all \[orders:read\]/);
    expect(allowed.stdout).not.toContain('FAIL');
    expect(allowed.stdout).toMatch(/verdict\s+ALLOWED \(200\)/);

    // a valid token, the scope rule failing: 403
    expect(wrongScope.code, wrongScope.stderr).toBe(1);
    expect(wrongScope.stdout).toMatch(/route\s+orders-write/);
    expect(wrongScope.stdout).toMatch(/token\s+valid \(demo/);
    expect(wrongScope.stdout).toMatch(/pass\s+token/);
    expect(wrongScope.stdout).toMatch(/FAIL\s+scopes\.all \[orders:write\] — missing: orders:write/);
    expect(wrongScope.stdout).toMatch(/verdict\s+DENIED \(403\)/);

    expect(otherTenant.code, otherTenant.stderr).toBe(1);
    expect(otherTenant.stdout).toMatch(/params \{"tenant":"other"\}/);
    expect(otherTenant.stdout).toMatch(/FAIL\s+claim tenant equals path parameter :tenant — claim is "acme" \(:tenant = "other"\)/);
    expect(otherTenant.stdout).toMatch(/verdict\s+DENIED \(403\)/);
  });

  it.sequential('equals_param: shows the parameter as it is compared (decoded), and why an escape equals no claim', async () => {
    // before, only the escaped text: `claim is "acme&co" (:tenant = "acme%26co")` passed with nothing saying why
    const amp = await as.issueJwt({ sub: 'amos', tenant: 'acme&co' });
    const decomposed = await as.issueJwt({ sub: 'mia', tenant: 'mu\u0308nchen' });
    const [decoded, nfkc, notUtf8] = await Promise.all([
      explain('GET', '/tenants/acme%26co/x', '--token', amp),
      explain('GET', '/tenants/mu%CC%88nchen/x', '--token', decomposed),
      explain('GET', '/tenants/%C3%28/x', '--token', reader),
    ]);
    expect(decoded.code, decoded.stderr).toBe(0);
    expect(decoded.stdout).toMatch(/pass\s+claim tenant equals path parameter :tenant — claim is "acme&co" \(:tenant = "acme%26co", read as "acme&co"\)/);
    expect(nfkc.code, nfkc.stderr).toBe(1);
    expect(nfkc.stdout).toMatch(/FAIL\s+claim tenant equals path parameter :tenant — .*\(:tenant = "mu%CC%88nchen", read as "mu\u0308nchen", which NFKC changes: equals no claim\)/);
    expect(notUtf8.code, notUtf8.stderr).toBe(1);
    expect(notUtf8.stdout).toMatch(/FAIL\s+claim tenant equals path parameter :tenant — claim is "acme" \(:tenant = "%C3%28", an escape that is not UTF-8: equals no claim\)/);
  });

  it.sequential('never prints a token pasted into the PATH\'s query (?access_token=)', async () => {
    // before, the first line repeated PATH as given: the token went to stdout (and the ticket it was pasted into)
    const r = await explain('GET', `/orders/42?access_token=${reader}&page=2`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^GET \/orders\/42 \(query not shown: it may carry a token\)$/m);
    expect(r.stdout).toMatch(/verdict\s+DENIED \(401\)/);
    expect(r.stdout + r.stderr).not.toContain(reader.split('.')[2]!);
    // a browser URL's fragment (#access_token= of the implicit flow): before, printed on the first line and in the 400 summary
    const f = await explain('GET', `/orders/42#access_token=${reader}`);
    expect(f.stdout).toMatch(/^GET \/orders\/42 \(fragment not shown: it may carry a token\)$/m);
    expect(f.stdout + f.stderr).not.toContain(reader.split('.')[2]!);
  });

  it.sequential('--token - reads the token from stdin: judged as with --token T, never on the command line', async () => {
    // before, `-` was the token itself ("refused: malformed", exit 1): the only way was the argument, in `ps` and the shell history
    const r = await runCli(['explain', '--config', file, 'GET', '/orders/42', '--token', '-'], ADMIN_ENV, 60_000, `${reader}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/token\s+valid \(demo, fingerprint [0-9a-f]+\)/);
    expect(r.stdout).toMatch(/verdict\s+ALLOWED \(200\)/);
    // an empty --token argument is not "nothing on stdin" (before: that message, though stdin was never read)
    const empty = await explain('GET', '/orders/42', '--token', '');
    expect(empty.code, empty.stdout + empty.stderr).toBe(2);
    expect(empty.stderr).toMatch(/explain: --token: empty token/);
  });

  it.sequential('says so when no route matches (exit 1)', async () => {
    const none = await explain('GET', '/nowhere');
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/no route matches GET \/nowhere: 404/);
    expect(none.stdout).not.toContain('ALLOWED');
  });

  it.sequential('exit 2 on bad usage: no --config, a bad method, an invalid config', async () => {
    const bad = writeConfig({ upstreams: {}, routes: [] });
    const [noConfig, badMethod, invalid] = await Promise.all([
      runCli(['explain', 'GET', '/orders/1']),
      explain('G3T', '/orders/1'),
      runCli(['explain', '--config', bad, 'GET', '/x']),
    ]);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('--config FILE is required');
    expect(badMethod.code).toBe(2);
    expect(badMethod.stderr).toContain('METHOD must be letters');
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('routes');
    for (const r of [noConfig, badMethod, invalid]) expect(r.stdout).not.toContain('verdict');
  });

  it.sequential('admin POST /explain returns the same verdict as JSON as the CLI', async () => {
    const [cli, http] = await Promise.all([
      explain('POST', '/orders/42', '--token', reader, '--json'),
      admin(proxy, 'POST', '/explain', { method: 'POST', path: '/orders/42', token: reader }),
    ]);
    expect(cli.code).toBe(1);
    expect(http.status).toBe(200);
    const fromCli = JSON.parse(cli.stdout) as Record<string, unknown>;
    expect(http.json).toMatchObject({ allowed: false, status: 403, route: 'orders-write', upstream: 'app', token: { ok: true, issuer: 'demo' } });
    expect(http.json).toEqual(fromCli);
    expect((http.json!.rules as { rule: string; ok: boolean }[]).find((r) => r.rule.startsWith('scopes.all'))).toMatchObject({ ok: false });

    const ok = await admin(proxy, 'POST', '/explain', { method: 'GET', path: '/tenants/acme/x', token: reader });
    expect(ok.json).toMatchObject({ allowed: true, status: 200, route: 'tenant', params: { tenant: 'acme' } });
    const nowhere = await admin(proxy, 'POST', '/explain', { method: 'GET', path: '/nowhere' });
    expect(nowhere.json).toMatchObject({ allowed: false, status: 404, route: null });
    const open = await admin(proxy, 'POST', '/explain', { method: 'GET', path: '/public/x' });
    expect(open.json).toMatchObject({ allowed: true, status: 200, route: 'public', token: null, rules: [{ rule: 'auth: none', ok: true }] });
    const expired = await as.issueJwt({ scope: 'orders:read' }, { ttlSeconds: -600 });
    const refused = await admin(proxy, 'POST', '/explain', { method: 'GET', path: '/orders/1', token: expired });
    expect(refused.json).toMatchObject({ allowed: false, status: 401, token: { ok: false }, rules: [{ rule: 'token', ok: false }] });

    // a Host header carries a port and any case: explain reads it as the listener does
    const served = await call(`${proxy.url}/nowhere`, { headers: { host: 'API.example.com:8443' } });
    expect(served.status).toBe(200);
    const byHost = await admin(proxy, 'POST', '/explain', { method: 'GET', path: '/nowhere', host: 'API.example.com:8443' });
    expect(byHost.json).toMatchObject({ allowed: true, status: 200, route: 'api-host' });
  });

  it.sequential('admin POST /explain needs the admin token and a well-formed body', async () => {
    expect((await call(`${proxy.adminUrl}/explain`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await admin(proxy, 'POST', '/explain', { path: '/x' })).status).toBe(400);
    expect((await admin(proxy, 'POST', '/explain', { method: 'GET', path: 'x' })).status).toBe(400);
    const notJson = await call(`${proxy.adminUrl}/explain`, { method: 'POST', body: 'nope', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(notJson.status).toBe(400);
  });

  // a field of the wrong type or a misspelled one was ignored: the verdict answered was the one of a
  // request without it (no token: 401; no host: 404), not of the request the operator described
  it.sequential('admin POST /explain refuses a field of the wrong type or an unknown one, naming it and never the value', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ method: 'GET', path: '/orders/42', token: [reader] }, 'token: expected a string'],
      [{ method: 'GET', path: '/nowhere', host: ['api.example.com'] }, 'host: expected a string'],
      [{ method: 'GET', path: '/orders/42', access_token: reader }, 'access_token: unknown field (expected method, path, host, token)'],
      [{ method: 'GET', path: '/orders/42', [reader]: true }, 'a field: unknown field'],
    ];
    for (const [body, message] of cases) {
      const r = await admin(proxy, 'POST', '/explain', body);
      expect(r.status, message).toBe(400);
      expect(r.json).toMatchObject({ error: 'invalid_request' });
      expect(String(r.json!.message)).toContain(message);
      expect(JSON.stringify(r.json)).not.toContain(reader);
    }
  });
});

// its own proxy and authorization server (the shared ones are only read): beside the suites above
describe.concurrent('/readyz', () => {
  it.sequential('reports each issuer and turns 200 once its keys are loaded; until then auth routes answer 503', async () => {
    const slow = await startAuthServer({ issuerPath: '/realms/late' });
    slow.setJwks('down');
    const p = await startProxy(baseConfig(echo.url, {
      issuers: { early: issuerFor(as), late: issuerFor(slow) },
      routes: [
        { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
        { name: 'late', match: { path: '/late/*' }, upstream: 'app', auth: { issuers: ['late'] } },
      ],
      verifier: { pool_size: 1 },
    }), { env: ADMIN_ENV });
    try {
      // early's keys load at once; late's JWKS answers 503
      await waitFor('(await call(`${p.adminUrl}/readyz`, { token: ADMIN_TOKEN })).json?.issuers?.early?.keys === true', async () => (await call(`${p.adminUrl}/readyz`, { token: ADMIN_TOKEN })).json?.issuers?.early?.keys === true, 5_000);
      const notYet = await call(`${p.adminUrl}/readyz`, { token: ADMIN_TOKEN });
      expect(notYet.status).toBe(503);
      expect(notYet.json).toMatchObject({ ready: false, keys_loaded: false, issuers: { early: { keys: true, introspection: null }, late: { keys: false, introspection: null } } });
      const refused = await call(`${p.url}/late/x`, { token: await slow.issueJwt({}) });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: 'temporarily_unavailable' });
      expect(refused.headers['retry-after']).toBeDefined();
      expect((await call(`${p.url}/public/x`)).status).toBe(200);

      slow.setJwks('normal');
      const ready = await waitReady(p, 8_000);
      expect(ready).toMatchObject({ ready: true, keys_loaded: true, issuers: { early: { keys: true }, late: { keys: true } } });
      expect((await call(`${p.url}/late/x`, { token: await slow.issueJwt({}) })).status).toBe(200);
    } finally {
      await p.stop();
      await slow.close();
    }
  });
});
