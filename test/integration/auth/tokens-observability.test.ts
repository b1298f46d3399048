// What an operator sees of token decisions: access-log lines that carry the deny
// reason and a token fingerprint but never a token or the introspection client
// secret, and /metrics with decisions by reason and the JWT cache counters.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { forgeSignature } from '../../fixtures/tokens.js';
import { INTROSPECTION_SECRET, SECRET_ENV, asIssuer, bearer, call, introspection, metrics, waitReady } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
/** Every credential sent in this file: none may appear in the proxy's output. */
const sent: string[] = [];
/** path → the token sent with it (null: none). */
const byPath = new Map<string, string | null>();
/** path → expected deny reason (null: allowed). */
const expected = new Map<string, string | null>();

const fingerprint = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 16);

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection() }) },
    routes: [
      { name: 'orders-read', match: { path: '/orders/*', methods: ['GET'] }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'orders-write', match: { path: '/orders/*', methods: ['POST'] }, upstream: 'app', auth: { scopes: { all: ['orders:write'] } } },
    ],
    log: { level: 'debug', access: true },
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
  // an issuer with introspection is ready once its endpoint is known and introspects its JWTs until its keys load
  // (README): the counts below are of JWT verification, so the keys must be in first (a loaded CI host got here before them)
  await waitFor("'jwks loaded' logged", () => proxy.logs().some((l) => l.msg === 'jwks loaded'), 5_000);

  const good = await as.issueJwt({ sub: 'alice' });
  const opaque = as.issueOpaque({ sub: 'bob' });
  const cases: Array<[string, string | null, string | null, string?]> = [
    // [path, token, expected deny reason or null, method]
    ['/orders/allowed-1', good, null],
    ['/orders/allowed-2', good, null], // cache hit
    ['/orders/allowed-opaque', opaque, null],
    ['/orders/no-token', null, 'no_token'],
    ['/orders/expired', await as.issueJwt({}, { ttlSeconds: -600 }), 'expired'],
    ['/orders/forged', forgeSignature(await as.issueJwt()), 'bad_signature'],
    ['/orders/scope', good, 'insufficient_scope', 'POST'],
    ['/orders/inactive', randomBytes(32).toString('base64url'), 'inactive'],
  ];
  for (const [path, token, reason, method] of cases) {
    if (token !== null) sent.push(token);
    byPath.set(path, token);
    expected.set(path, reason);
    await call(`${proxy.url}${path}`, { method: method ?? 'GET', headers: token === null ? {} : bearer(token) });
  }
  // a token in a place the route does not read (query) is logged with its own reason
  const q = await as.issueJwt({ sub: 'query' });
  sent.push(q);
  byPath.set('/orders/query', q);
  expected.set('/orders/query', 'query_token_unsupported');
  await call(`${proxy.url}/orders/query?access_token=${q}`);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const accessLine = (path: string): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === path);

describe('logs', () => {
  it('one access line per request; denials carry the stable deny reason and a 16-hex token fingerprint', async () => {
    await waitFor('[...expected.keys()].every((p) => accessLine(p) !== undefined)', () => [...expected.keys()].every((p) => accessLine(p) !== undefined), 3_000);
    for (const [path, reason] of expected) {
      const line = accessLine(path)!;
      const token = byPath.get(path)!;
      if (reason === null) expect(line.deny, path).toBeUndefined();
      else expect(line.deny, path).toBe(reason);
      if (token === null) expect(line.token, path).toBeUndefined();
      // refused by extract (credential in a place the route does not allow): no token was read, a fingerprint is optional
      else if (reason === 'query_token_unsupported') expect([undefined, fingerprint(token)], path).toContain(line.token);
      else expect(line.token, path).toBe(fingerprint(token));
    }
  });

  it('no log line contains a token, part of one, or the introspection client secret', async () => {
    // the lines come asynchronously: look once every request's access line is in (the last lines the
    // requests wrote), not after a fixed 200 ms that a loaded host outlasts with lines still on the way
    await waitFor('every request\'s access line', () => [...expected.keys()].every((p) => accessLine(p) !== undefined), 5_000);
    const out = proxy.output();
    expect(out.length).toBeGreaterThan(0);
    for (const t of sent) {
      expect(out).not.toContain(t);
      for (const part of t.split('.')) if (part.length >= 16) expect(out).not.toContain(part);
    }
    expect(out).not.toContain(INTROSPECTION_SECRET);
    expect(out).not.toContain(Buffer.from(`portcullis:${INTROSPECTION_SECRET}`).toString('base64'));
    expect(out).not.toContain(ADMIN_TOKEN);
  });
});

describe('metrics', () => {
  it('/metrics counts allowed and denied decisions by reason, and JWT cache hits', async () => {
    const m = await metrics(proxy, ADMIN_TOKEN);
    const value = (re: RegExp): number => Number(re.exec(m)?.[1] ?? NaN);
    expect(value(/^portcullis_auth_decisions_total\{decision="allowed",reason=""\} (\d+)$/m)).toBe(3);
    for (const reason of ['no_token', 'expired', 'bad_signature', 'insufficient_scope', 'inactive', 'query_token_unsupported']) {
      expect(value(new RegExp(`^portcullis_auth_decisions_total\\{decision="denied",reason="${reason}"\\} (\\d+)$`, 'm')), reason).toBe(1);
    }
    expect(value(/^portcullis_jwt_cache_lookups_total\{result="hit"\} (\d+)$/m)).toBeGreaterThanOrEqual(2);
    // two signatures were checked (the good token once, the forged one); the expired one was refused before
    const inline = value(/^portcullis_jwt_verifications_total\{where="inline"\} (\d+)$/m);
    const pooled = value(/^portcullis_jwt_verifications_total\{where="pool"\} (\d+)$/m);
    expect(inline + pooled).toBe(2);
    expect([0, 1]).toContain(value(/^portcullis_jwt_verify_prefers_inline (\d+)$/m));
    expect(value(/^portcullis_introspection_calls_total\{outcome="active"\} (\d+)$/m)).toBe(1);
    expect(value(/^portcullis_introspection_calls_total\{outcome="inactive"\} (\d+)$/m)).toBe(1);
    // the scrape itself never shows a credential
    for (const t of sent) expect(m).not.toContain(t);
    expect(m).not.toContain(INTROSPECTION_SECRET);
  });
});
