// A compromised or buggy service behind an authenticated route answers 401 with a challenge that steers
// the client: RFC 9728 `resource_metadata` naming another authorization server (a client looks up where to
// get its next token there), Azure's `authorization_uri`, a `Basic` prompt a browser shows as the site's own
// login, `Negotiate`/`NTLM` that a browser answers with the user's Windows credentials. On a request the
// proxy authenticated, only Bearer/DPoP challenges pass, with the parameters that ask for a better token.
// Both front doors, against a raw upstream writing exact bytes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Socket } from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { startRawUpstream, type RawUpstream } from '../../helpers/raw-http.js';
import { asIssuer, bearer, call, waitReady } from './tokens-helpers.js';

const EVIL = 'https://evil.example/.well-known/oauth-protected-resource';
const SPRING = 'Bearer error="invalid_token", error_description="An error occurred while attempting to decode the Jwt: Jwt expired at 2026-12-07T23:00:00Z", error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"';
/** The upstream's answer per last path segment. */
const ANSWERS: Record<string, string> = {
  steer: `WWW-Authenticate: Bearer realm="orders", resource_metadata="${EVIL}", error="invalid_token", error_uri="http://evil.example/help"\r\n`,
  schemes: 'WWW-Authenticate: Basic realm="corp"\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n',
  mixed: 'WWW-Authenticate: Basic realm="corp", Bearer realm="orders", error="insufficient_scope", scope="orders:write", authorization_uri="https://evil.example/authorize"\r\n',
  stepup: 'WWW-Authenticate: Bearer error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="phr"\r\n',
  garbled: 'WWW-Authenticate: Bearer realm="unterminated\r\n',
  // Spring Security's resource server on an expired token: RFC 6750 §3's error_uri, an https page
  spring: `WWW-Authenticate: ${SPRING}\r\n`,
  // error_uri values that are no https page of a named host: each dropped, the rest of the challenge kept
  badUris: 'WWW-Authenticate: Bearer realm="orders", error_uri="/help", error_uri="javascript:alert(1)", error_uri="https://login.example@evil.example/", error_uri="HTTPS://ok.example/a b", error_uri=help, error="invalid_token"\r\n',
  // nothing to drop, in a spelling the filter's rebuilt value differs from (no space after the comma, `Realm`)
  spelled: 'WWW-Authenticate: Bearer Realm="orders",error="invalid_token",error_description="expired"\r\n',
  // every parameter allowed, but a kept value spells a dropped one: clients that find `resource_metadata` by a
  // regex over the whole field (`/resource_metadata\s*=\s*([^,\s]+)/`, as MCP clients do) read it from there
  empty: 'WWW-Authenticate: \r\n',
  smuggled: `WWW-Authenticate: Bearer realm="orders", error="invalid_token", error_description="resource_metadata=${EVIL} see"\r\n`,
  // the same with NBSP (byte 0xA0) before the `=`: a `\s*` in the client's regex reads it as a space
  nbsp: `WWW-Authenticate: Bearer realm="orders", error="invalid_token", error_description="resource_metadata\u00a0=${EVIL} see"\r\n`,
};

let as: AuthServer;
let up: RawUpstream;
let proxy: ProxyProcess;
let session: ClientHttp2Session;

beforeAll(async () => {
  as = await startAuthServer({ algorithms: ['RS256'] });
  up = await startRawUpstream((s: Socket) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i !== -1; i = buf.indexOf('\r\n\r\n')) {
        const target = buf.slice(0, i).split(' ')[1]!;
        buf = buf.slice(i + 4);
        s.write(`HTTP/1.1 401 Unauthorized\r\n${ANSWERS[target.split('/').pop()!] ?? ''}Content-Length: 6\r\n\r\ndenied`, 'latin1');
      }
    });
  });
  proxy = await startProxy(baseConfig(up.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
      { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  session?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), up?.close()]);
});

/** The WWW-Authenticate lines of an answer. */
function challenges(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

describe('an upstream\'s WWW-Authenticate on a request the proxy authenticated', () => {
  it('HTTP/1.1: RFC 9728 resource_metadata and an http: error_uri are dropped; the Bearer challenge and its error stay; the 401 and body pass', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/api/steer`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    expect(r.text).toBe('denied');
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Bearer realm="orders", error="invalid_token"']);
    expect(JSON.stringify(r.headers)).not.toContain('evil.example');
  });

  it('HTTP/1.1: Basic, Negotiate and NTLM prompts are dropped; a 401 left without a challenge gets the proxy\'s own', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/api/schemes`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Bearer realm="portcullis"']);
  });

  it('HTTP/1.1: several challenges in one line → only the Bearer one, with scope (step-up) and without authorization_uri', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/api/mixed`, { headers: bearer(t) });
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Bearer realm="orders", error="insufficient_scope", scope="orders:write"']);
    const s = await call(`${proxy.url}/api/stepup`, { headers: bearer(t) });
    expect(challenges(s.headers['www-authenticate'])).toEqual(['Bearer error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="phr"']);
  });

  it('HTTP/1.1: a challenge that does not parse is dropped (the proxy\'s own takes its place)', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/api/garbled`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Bearer realm="portcullis"']);
  });

  it('HTTP/1.1: an `auth: none` route is the upstream\'s own to authenticate: its challenges pass as written', async () => {
    const r = await call(`${proxy.url}/open/schemes`);
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Basic realm="corp"', 'Negotiate', 'NTLM']);
  });

  it('HTTP/2: the same filter', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/steer', authorization: `Bearer ${t}` });
    expect(a.status).toBe(401);
    expect(a.text).toBe('denied');
    expect(challenges(a.headers['www-authenticate'])).toEqual(['Bearer realm="orders", error="invalid_token"']);
    const b = await h2Request(session, { ':method': 'GET', ':path': '/api/schemes', authorization: `Bearer ${t}` });
    expect(challenges(b.headers['www-authenticate'])).toEqual(['Bearer realm="portcullis"']);
    const c = await h2Request(session, { ':method': 'GET', ':path': '/open/schemes' });
    expect(challenges(c.headers['www-authenticate']).join(', ')).toBe('Basic realm="corp", Negotiate, NTLM');
  });

  it('each answer whose challenges were filtered is counted for its upstream; one left as written is not', async () => {
    const count = async (): Promise<number> => {
      const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
      return Number(/portcullis_upstream_errors_total\{upstream="app",kind="challenge_filtered"\} (\d+)/.exec(m.text)?.[1] ?? 0);
    };
    const t = await as.issueJwt({ sub: 'alice' });
    const before = await count();
    await call(`${proxy.url}/api/steer`, { headers: bearer(t) });
    await h2Request(session, { ':method': 'GET', ':path': '/api/schemes', authorization: `Bearer ${t}` });
    await call(`${proxy.url}/api/stepup`, { headers: bearer(t) }); // passes as written
    await call(`${proxy.url}/open/schemes`);
    expect(await count()).toBe(before + 2);
  });

  it('a challenge with nothing to drop passes as the upstream spelled it, on both listeners, and is not counted', async () => {
    const count = async (): Promise<number> => {
      const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
      return Number(/portcullis_upstream_errors_total\{upstream="app",kind="challenge_filtered"\} (\d+)/.exec(m.text)?.[1] ?? 0);
    };
    const t = await as.issueJwt({ sub: 'alice' });
    const before = await count();
    const written = 'Bearer Realm="orders",error="invalid_token",error_description="expired"';
    const r = await call(`${proxy.url}/api/spelled`, { headers: bearer(t) });
    expect(challenges(r.headers['www-authenticate'])).toEqual([written]);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/spelled', authorization: `Bearer ${t}` });
    expect(challenges(a.headers['www-authenticate'])).toEqual([written]);
    expect(await count()).toBe(before);
  });

  it('Spring Security\'s 401 with an https error_uri (RFC 6750 §3) passes byte for byte on both listeners and is not counted', async () => {
    const count = async (): Promise<number> => {
      const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
      return Number(/portcullis_upstream_errors_total\{upstream="app",kind="challenge_filtered"\} (\d+)/.exec(m.text)?.[1] ?? 0);
    };
    const t = await as.issueJwt({ sub: 'alice' });
    const before = await count();
    const r = await call(`${proxy.url}/api/spring`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    expect(challenges(r.headers['www-authenticate'])).toEqual([SPRING]);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/spring', authorization: `Bearer ${t}` });
    expect(challenges(a.headers['www-authenticate'])).toEqual([SPRING]);
    expect(await count()).toBe(before);
  });

  it('an error_uri that is no https page of a named host (relative, javascript:, userinfo, a space, unquoted) is dropped, the rest of the challenge kept', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/api/badUris`, { headers: bearer(t) });
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Bearer realm="orders", error="invalid_token"']);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/badUris', authorization: `Bearer ${t}` });
    expect(challenges(a.headers['www-authenticate'])).toEqual(['Bearer realm="orders", error="invalid_token"']);
  });

  it('a dropped parameter spelled inside a kept one\'s quoted value is dropped with it, on both listeners', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const want = ['Bearer realm="orders", error="invalid_token"'];
    const r = await call(`${proxy.url}/api/smuggled`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    // before: passed whole, and a client reading parameters by regex went to evil.example for its next token
    expect(challenges(r.headers['www-authenticate'])).toEqual(want);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/smuggled', authorization: `Bearer ${t}` });
    expect(challenges(a.headers['www-authenticate'])).toEqual(want);
  });

  it('a dropped parameter spelled with NBSP before its `=` is dropped with its kept one too, on both listeners', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const want = ['Bearer realm="orders", error="invalid_token"'];
    // a client's `/resource_metadata\s*=\s*([^,\s]+)/` finds the address across NBSP (JavaScript's \s takes it)
    expect(/resource_metadata\s*=\s*([^,\s]+)/.exec(ANSWERS.nbsp!)?.[1]).toBe(EVIL);
    const r = await call(`${proxy.url}/api/nbsp`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    // before: passed whole (only SP and HTAB were read as the gap before `=`)
    expect(challenges(r.headers['www-authenticate'])).toEqual(want);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/nbsp', authorization: `Bearer ${t}` });
    expect(challenges(a.headers['www-authenticate'])).toEqual(want);
  });

  it('an empty field is no challenge: the 401 gets the proxy\'s own, on both listeners', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/api/empty`, { headers: bearer(t) });
    expect(r.status).toBe(401);
    // before: the empty field passed as written (nothing was dropped from it), a 401 without a challenge
    expect(challenges(r.headers['www-authenticate'])).toEqual(['Bearer realm="portcullis"']);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/empty', authorization: `Bearer ${t}` });
    expect(challenges(a.headers['www-authenticate'])).toEqual(['Bearer realm="portcullis"']);
  });
});
