// The token's client is one revocation key whether the issuer names it `client_id` (RFC 9068), `azp`
// (OIDC), `cid` (Okta) or `appid` (Entra ID v1): all four follow one rule — a string without a space or
// tab at either end and without a control character, all naming one client — or the token is refused
// (401), in a JWT and an introspection answer alike. Before, a bad `cid` passed (numeric, padded, with a CTL) while the same `azp` was refused.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady, type Answer } from './policy-fixtures.js';
import { introspection, SECRET_ENV } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

// each client claim is forwarded under its own name: what the upstream reads is what was judged
const IDENTITY = { 'X-Cid': 'cid', 'X-Azp': 'azp', 'X-Auth-Client-Id': 'client_id', 'X-Auth-Subject': 'sub' };

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/clients' }), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: issuerFor(as, { introspection: introspection() }) },
    routes: [{ name: 'app', match: { path: '/app/*' }, upstream: 'app', auth: {}, forward: { identity_headers: IDENTITY } }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** A request whose refusal must leave the upstream untouched. */
async function refused(token: string): Promise<Answer> {
  const before = echo.requests;
  const r = await call(`${proxy.url}/app/x`, { token });
  expect(echo.requests, 'a refused token reached the upstream').toBe(before);
  return r;
}

const BAD: Array<[string, Record<string, unknown>]> = [
  ['cid a number', { client_id: undefined, cid: 7 }],
  ['cid an array', { client_id: undefined, cid: ['app-okta'] }],
  ['cid with a leading space', { client_id: undefined, cid: ' app-okta' }],
  ['cid with a trailing tab', { client_id: undefined, cid: 'app-okta\t' }],
  ['cid with a NUL inside', { client_id: undefined, cid: 'app\u0000okta' }],
  ['cid with a CR LF inside', { client_id: undefined, cid: 'app\r\nX-Admin: 1' }],
  ['cid a number beside a good client_id', { cid: 7 }],
  ['azp with a DEL inside', { client_id: undefined, azp: 'web\u007f' }],
  ['client_id with an ESC inside', { client_id: 'web\u001b[0m' }],
  ['sub with a LF inside', { sub: 'bob\nalice' }],
  // Unicode white space at an end: an app trimming with .NET Trim(), Python strip() or Java strip() reads `bob`
  ['sub with a trailing no-break space', { sub: 'bob\u00a0' }],
  ['sub with a trailing zero-width no-break space (BOM)', { sub: 'bob\ufeff' }],
  ['cid with a leading ideographic space', { client_id: undefined, cid: '\u3000app-okta' }],
  ['azp with a trailing NEL (U+0085)', { client_id: undefined, azp: 'web\u0085' }],
  ['client_id with a leading em space', { client_id: '\u2003web' }],
  ['appid a number', { client_id: undefined, appid: 42 }],
  ['appid with a trailing space', { client_id: undefined, appid: 'app-entra ' }],
  ['client_id and azp naming two clients', { client_id: 'web', azp: 'other-app' }],
  ['cid and appid naming two clients', { client_id: undefined, cid: 'app-okta', appid: 'app-entra' }],
];

describe('client_id, azp and cid: one rule', () => {
  it('control: a client only in cid passes and the upstream reads exactly it', async () => {
    const token = await as.issueJwt({ client_id: undefined, cid: 'app-okta' });
    const r = await call(`${proxy.url}/app/x`, { token });
    expect(r.status, r.text).toBe(200);
    const seen = (r.json as { headers: Record<string, string> }).headers;
    expect(seen['x-cid']).toBe('app-okta');
    expect(seen['x-auth-client-id']).toBeUndefined();
  });

  it('control: inner no-break and ideographic spaces are part of the value, passed as its UTF-8 bytes', async () => {
    const token = await as.issueJwt({ sub: 'Jos\u00e9\u00a0Mar\u00eda', client_id: undefined, cid: 'app\u3000okta' });
    const r = await call(`${proxy.url}/app/x`, { token });
    expect(r.status, r.text).toBe(200);
    const headers = (r.json as { headers: Record<string, string> }).headers;
    expect(Buffer.from(headers['x-auth-subject']!, 'latin1').toString('utf8')).toBe('Jos\u00e9\u00a0Mar\u00eda');
    expect(Buffer.from(headers['x-cid']!, 'latin1').toString('utf8')).toBe('app\u3000okta');
  });

  it('control: inner spaces and tabs in a client id are one value, passed as written', async () => {
    const token = await as.issueJwt({ client_id: undefined, cid: 'app\tokta two' });
    const r = await call(`${proxy.url}/app/x`, { token });
    expect(r.status, r.text).toBe(200);
    expect((r.json as { headers: Record<string, string> }).headers['x-cid']).toBe('app\tokta two');
  });

  it.each(BAD)('JWT with %s → 401 invalid_token, nothing forwarded', async (_name, claims) => {
    const r = await refused(await as.issueJwt(claims));
    expect(r.status, r.text).toBe(401);
    expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
  });

  it.each(BAD)('opaque token introspected with %s → 401 invalid_token, nothing forwarded', async (_name, claims) => {
    const r = await refused(as.issueOpaque(claims));
    expect(r.status, r.text).toBe(401);
    expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
  });
});
