// Hostile or broken RFC 7662 answers: an authorization server (or whatever answers at its
// introspection URL) that says `active` but names another issuer, a non-access token type,
// dates that are not numbers, or speaks something other than JSON. None may reach the upstream.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import {
  SECRET_ENV, asIssuer, bearer, call, echoed, expectBearerError, expectUnavailable, introspection, notForwarded,
  startRecorder, waitReady, type Recorder, type Reply,
} from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let fake: Recorder;
let proxy: ProxyProcess;
/** token → [content-type, body] the fake introspection endpoint answers with. */
const answers = new Map<string, [string, string]>();

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  fake = await startRecorder((_req, body, res) => {
    const token = new URLSearchParams(body).get('token') ?? '';
    const [type, text] = answers.get(token) ?? ['application/json', '{"active":false}'];
    res.writeHead(200, { 'content-type': type }).end(text);
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection({ endpoint: `${fake.url}/introspect`, cache_ttl_s: 60, negative_ttl_s: 5 }) }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), fake?.close()]);
});

const now = (): number => Math.floor(Date.now() / 1000);
/** A fresh opaque token the fake endpoint answers `body` for (JSON unless `type` says otherwise). */
function tokenAnswering(body: Record<string, unknown> | string, type = 'application/json'): string {
  const t = randomBytes(32).toString('base64url');
  answers.set(t, [type, typeof body === 'string' ? body : JSON.stringify(body)]);
  return t;
}
const good = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ active: true, sub: 'bob', scope: 'orders:read', iss: as.issuer, exp: now() + 300, iat: now(), token_type: 'Bearer', ...extra });
const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));

describe('introspection answers are held to the issuer\'s rules', () => {
  it('controls: a well-formed active answer → 200 (also without iss/token_type, token_type in any case, +json type, charset param)', async () => {
    expect(echoed(await get(tokenAnswering(good()))).headers['x-auth-subject']).toBe('bob');
    expect((await get(tokenAnswering(good({ iss: undefined, token_type: undefined }))))).toMatchObject({ status: 200 });
    expect((await get(tokenAnswering(good({ token_type: 'bearer' }))))).toMatchObject({ status: 200 });
    expect((await get(tokenAnswering(good(), 'application/token-introspection+json')))).toMatchObject({ status: 200 });
    expect((await get(tokenAnswering(good(), 'application/json; charset=utf-8')))).toMatchObject({ status: 200 });
  });

  it.each<[string, Record<string, unknown>]>([
    ['iss of another issuer', { iss: 'https://evil.example' }],
    ['iss with a trailing slash (compared exactly, like a JWT iss)', { iss: 'TRAILING' }],
    ['token_type refresh_token (not an access token)', { token_type: 'refresh_token' }],
    ['token_type a non-string', { token_type: 1 }],
    ['token_type DPoP without cnf.jkt (a binding that could not be checked)', { token_type: 'DPoP' }],
    ['exp as a string', { exp: String(now() + 300) }],
    ['exp NaN-like (a string "NaN")', { exp: 'NaN' }],
    ['nbf as a string far ahead', { nbf: String(now() + 3600) }],
    ['iat as an object', { iat: { n: 1 } }],
    ['exp in the past', { exp: now() - 3600 }],
    ['sub a number (a revocation by sub could never match it)', { sub: 123 }],
    ['client_id an array', { client_id: ['billing'] }],
    ['sub with a trailing space (forwarded, the upstream would read another subject)', { sub: 'bob ' }],
  ])('active with %s → 401 invalid_token, nothing forwarded', async (_name, extra) => {
    const body = good(extra.iss === 'TRAILING' ? { iss: `${as.issuer}/` } : extra);
    expectBearerError(await refused(tokenAnswering(body)), 401, 'invalid_token');
  });

  it.each<[string, string, () => string]>([
    ['active as the string "true"', 'application/json', () => JSON.stringify({ ...good(), active: 'true' })],
    ['active missing', 'application/json', () => JSON.stringify({ ...good(), active: undefined })],
    ['a JSON body labelled text/html (a login page or a captive proxy is not an AS)', 'text/html', () => JSON.stringify(good())],
    ['a JSON body without a JSON content type (text/plain)', 'text/plain', () => JSON.stringify(good())],
    ['an array', 'application/json', () => '[{"active":true}]'],
    ['over 256 KiB', 'application/json', () => JSON.stringify({ ...good(), pad: 'x'.repeat(300 * 1024) })],
  ])('%s → 503 (not an answer: never 200, never cached as inactive)', async (_name, type, text) => {
    expectUnavailable(await refused(tokenAnswering(text(), type)));
  });
});
