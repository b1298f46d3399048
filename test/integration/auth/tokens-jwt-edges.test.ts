// JWT claim and structure edge cases a hostile or sloppy issuer/client sends (RFC 7519, 7515,
// 8725, 9068): aud shapes, dates that are strings/huge/negative, iss spelled differently, JWE and
// nested tokens, odd kids, two issuers sharing a kid, other JWT kinds by typ, and duplicate JSON members (last one wins,
// in the header and payload alike, on the main thread and in the verifier: one reading only).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { accessClaims, b64url, makeToken, nowS, signInput, signRaw, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { bearer, call, echoed, expectBearerError, notForwarded, startRecorder, waitReady, type Recorder, type Reply } from './tokens-helpers.js';

const OTHER_ISSUER = 'https://other.test/realms/main';
// both issuers publish a key under the same kid: a token must only ever be checked with its own issuer's
const mine = makeKey('RS256', 'shared-kid');
const theirs = makeKey('RS256', 'shared-kid');
let echo: EchoUpstream;
let jwksMine: Recorder;
let jwksTheirs: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  const serve = (k: typeof mine) => startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([k])));
  });
  [jwksMine, jwksTheirs] = await Promise.all([serve(mine), serve(theirs)]);
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      mine: { issuer: TEST_ISSUER, jwks_uri: `${jwksMine.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256'] },
      theirs: { issuer: OTHER_ISSUER, jwks_uri: `${jwksTheirs.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256'] },
    },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), jwksMine?.close(), jwksTheirs?.close()]);
});

/** Every token sent, to look for in the proxy's output and metrics at the end. */
const sent: string[] = [];
const get = (token: string): Promise<Reply> => { sent.push(token); return call(`${proxy.url}/api/x`, { headers: bearer(token) }); };
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));
/** A token signed by `mine` whose payload is the given JSON text (duplicates, 1e400… survive). */
const rawPayload = (json: string, header: Record<string, unknown> | string = { alg: 'RS256', typ: 'at+jwt', kid: mine.kid }): string => {
  const input = `${b64url(header)}.${Buffer.from(json).toString('base64url')}`;
  return `${input}.${signInput(mine, input, 'RS256')}`;
};
const claimsJson = (extra: string): string => {
  const c = accessClaims({}, TEST_ISSUER, TEST_AUDIENCE);
  return JSON.stringify(c).slice(0, -1) + extra + '}';
};

describe('JWT edge cases → 401 invalid_token, nothing forwarded', () => {
  it('control: a token of each issuer under the shared kid passes (200)', async () => {
    expect(echoed(await get(makeToken(mine, {}))).headers['x-auth-issuer']).toBe(TEST_ISSUER);
    expect(echoed(await get(makeToken(theirs, {}, OTHER_ISSUER))).headers['x-auth-issuer']).toBe(OTHER_ISSUER);
    expect((await get(makeToken(mine, { claims: { exp: nowS() + 300.5 } }))).status).toBe(200); // a fractional NumericDate is valid
    expect((await get(makeToken(mine, { claims: { aud: ['someone-else', TEST_AUDIENCE] } }))).status).toBe(200);
    // without require_typ: no typ, the generic JWT, and at+jwt in any spelling pass
    for (const typ of [undefined, 'JWT', 'application/jwt', 'AT+JWT', 'application/at+jwt']) {
      expect((await get(makeToken(mine, { header: { typ } }))).status, String(typ)).toBe(200);
    }
  });

  it.each<[string, () => string]>([
    ['signed by the other issuer\'s key under the shared kid (cross-issuer kid collision)', () => makeToken(theirs, {})],
    ['iss of the other issuer, signed by this one\'s key under the shared kid', () => makeToken(mine, {}, OTHER_ISSUER)],
    ['iss with a trailing slash', () => makeToken(mine, {}, `${TEST_ISSUER}/`)],
    ['iss with an upper-case host', () => makeToken(mine, {}, TEST_ISSUER.replace('issuer.test', 'ISSUER.test'))],
    ['aud ""', () => makeToken(mine, { claims: { aud: '' } })],
    ['aud []', () => makeToken(mine, { claims: { aud: [] } })],
    ['aud [""]', () => makeToken(mine, { claims: { aud: [''] } })],
    ['aud null', () => makeToken(mine, { claims: { aud: null } })],
    ['aud with a non-string member next to ours', () => makeToken(mine, { claims: { aud: [1, TEST_AUDIENCE] } })],
    ['exp as a numeric string', () => makeToken(mine, { claims: { exp: String(nowS() + 300) } })],
    ['exp "NaN"', () => makeToken(mine, { claims: { exp: 'NaN' } })],
    ['exp 1e400 (JSON overflow to Infinity)', () => rawPayload(claimsJson(',"exp":1e400'))],
    ['exp negative', () => makeToken(mine, { claims: { exp: -1 } })],
    ['exp null', () => makeToken(mine, { claims: { exp: null } })],
    ['nbf as a string', () => makeToken(mine, { claims: { nbf: String(nowS()) } })],
    ['iat as a string', () => makeToken(mine, { claims: { iat: String(nowS()) } })],
    ['iat 1e400', () => rawPayload(claimsJson(',"iat":1e400'))],
    ['five segments (JWE compact form)', () => `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: mine.kid })}.AAAA.AAAA.AAAA.AAAA`],
    ['two segments', () => makeToken(mine, {}).split('.').slice(0, 2).join('.')],
    ['nested JWT (cty: JWT, payload a compact JWT)', () => signRaw(mine, { alg: 'RS256', kid: mine.kid, cty: 'JWT' }, makeToken(mine, {}))],
    ['kid with a NUL byte', () => makeToken(mine, { header: { kid: 'shared-kid\u0000' } })],
    ['kid "../../jwks"', () => makeToken(mine, { header: { kid: '../../jwks' } })],
    ['kid 4 KiB long', () => makeToken(mine, { header: { kid: 'k'.repeat(4096) } })],
    ['kid a number', () => makeToken(mine, { header: { kid: 1 } })],
    ['sub a number (a revocation by sub "123" could never match it)', () => makeToken(mine, { claims: { sub: 123 } })],
    ['sub an array', () => makeToken(mine, { claims: { sub: ['alice'] } })],
    ['client_id a number', () => makeToken(mine, { claims: { client_id: 7 } })],
    ['jti an object', () => makeToken(mine, { claims: { jti: { id: 1 } } })],
    ['sid a number', () => makeToken(mine, { claims: { sid: 42 } })],
    ['sub "bob " (the upstream\'s HTTP parser trims the header to "bob"; a revocation of "bob" would miss it)', () => makeToken(mine, { claims: { sub: 'bob ' } })],
    ['sub with a leading tab', () => makeToken(mine, { claims: { sub: '\tbob' } })],
    ['client_id with a leading space', () => makeToken(mine, { claims: { client_id: ' web' } })],
    ['typ logout+jwt (an OP\'s logout token naming our audience, RFC 8725 §3.11)', () => makeToken(mine, { header: { typ: 'logout+jwt' } })],
    ['typ application/secevent+jwt (a security event token)', () => makeToken(mine, { header: { typ: 'application/secevent+jwt' } })],
    ['typ SECEVENT+JWT (media types are case-insensitive)', () => makeToken(mine, { header: { typ: 'SECEVENT+JWT' } })],
    ['typ dpop+jwt', () => makeToken(mine, { header: { typ: 'dpop+jwt' } })],
    // a media type's parameters and surrounding spaces do not change what it names (before, both passed)
    ['typ "logout+jwt; v=1" (a media type with a parameter)', () => makeToken(mine, { header: { typ: 'logout+jwt; v=1' } })],
    ['typ "logout+jwt " (a space after it)', () => makeToken(mine, { header: { typ: 'logout+jwt ' } })],
    ['typ a number', () => makeToken(mine, { header: { typ: 1 } })],
    ['duplicate alg, the last one none', () => rawPayload(JSON.stringify(accessClaims({}, TEST_ISSUER)), `{"alg":"RS256","typ":"at+jwt","kid":"${mine.kid}","alg":"none"}`)],
    ['duplicate iss, the last one foreign', () => rawPayload(claimsJson(`,"iss":"${OTHER_ISSUER}"`))],
    ['duplicate exp, the last one expired', () => rawPayload(claimsJson(`,"exp":${nowS() - 3600}`))],
  ])('%s', async (_name, make) => {
    const token = make();
    const r = await refused(token);
    expectBearerError(r, 401, 'invalid_token');
    expect(r.text).not.toContain(token);
  });

  it('duplicate members: the last one is what counts, in the claims forwarded too (one reading everywhere)', async () => {
    const seen = echoed(await get(rawPayload(claimsJson(',"sub":"mallory","sub":"bob"'))));
    expect(seen.headers['x-auth-subject']).toBe('bob');
    // a header whose first alg is none but last RS256 is judged as RS256, signature and all
    const header = `{"alg":"none","typ":"at+jwt","kid":"${mine.kid}","alg":"RS256"}`;
    const input = `${Buffer.from(header).toString('base64url')}.${b64url(accessClaims({}, TEST_ISSUER))}`;
    expect((await get(`${input}.${signInput(mine, input, 'RS256')}`)).status).toBe(200);
  });

  it('no token sent (nor its signature) appears in the proxy\'s log, /metrics, /cache/stats or a query-token refusal', async () => {
    // one more placement: a query token on a route that does not take query tokens (logged as a deny)
    const q = makeToken(mine, {});
    sent.push(q);
    expectBearerError(await notForwarded(() => echo.requests, () => call(`${proxy.url}/api/x?access_token=${q}`)), 401, null);
    const admin = { authorization: `Bearer ${ADMIN_ENV.PORTCULLIS_TEST_ADMIN_TOKEN}` };
    // and through the admin API: explain judges a token (answer and audit/log lines must not carry it)
    const e = makeToken(mine, {});
    sent.push(e);
    const { request } = await import('undici');
    const ex = await request(`${proxy.adminUrl}/explain`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ method: 'GET', path: '/api/x', token: e }) });
    const exText = await ex.body.text();
    expect(ex.statusCode, exText).toBe(200);
    expect(exText.includes(e)).toBe(false);
    const texts = [proxy.output(), (await call(`${proxy.adminUrl}/metrics`, { headers: admin })).text, (await call(`${proxy.adminUrl}/cache/stats`, { headers: admin })).text];
    expect(texts[1]!.length).toBeGreaterThan(0);
    for (const t of sent) {
      const sig = t.split('.')[2] ?? '';
      for (const text of texts) {
        expect(text.includes(t), 'a raw token was printed').toBe(false);
        if (sig.length >= 16) expect(text.includes(sig), 'a token signature was printed').toBe(false);
      }
    }
    expect(texts[0]!.includes(ADMIN_ENV.PORTCULLIS_TEST_ADMIN_TOKEN)).toBe(false);
  });
});
