// Credentials inside configured URLs (userinfo, a vendor key in the query) never reach the process
// log: an issuer whose `jwks_uri` or `discovery` URL carries them, served by an identity provider
// that answers 500, makes the proxy log its failed fetches — those lines name the URL by scheme,
// host and path only.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { eventually, startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { SECRET_ENV, introspection } from '../auth/tokens-helpers.js';

const SECRETS = ['jwks-pass-5ecret', 'jwks-query-5ecret', 'disc-pass-5ecret', 'disc-query-5ecret'];

let idp: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  idp = await startScriptedUpstream((_req, res) => { res.writeHead(500).end(); });
  const host = `127.0.0.1:${idp.port}`;
  proxy = await startProxy(baseConfig(idp.url, {
    issuers: {
      keys: { issuer: 'https://keys.example', audiences: ['api'], discovery: false, jwks_uri: `http://jwksuser:${SECRETS[0]}@${host}/jwks?api_key=${SECRETS[1]}` },
      opaque: {
        issuer: 'https://opaque.example', audiences: ['api'], discovery: `http://discuser:${SECRETS[2]}@${host}/idp/.well-known/openid-configuration?key=${SECRETS[3]}`,
        introspection: introspection(),
      },
    },
    log: { level: 'debug', access: true },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
});

afterAll(async () => {
  await proxy?.stop();
  await idp?.close();
});

describe('configured URLs in log lines', () => {
  it('names a failed JWKS fetch and a failed discovery by scheme, host and path, never userinfo or query', async () => {
    const failed = (msg: string): boolean => proxy.logs().some((l) => l.msg === msg);
    expect(await eventually(() => failed('jwks fetch failed') && failed('introspection endpoint discovery failed'), 15_000), proxy.output()).toBe(true);
    // the fetches were made to the configured URLs (the proxy did use them)
    expect(idp.seen.some((s) => s.url.startsWith('/jwks?api_key='))).toBe(true);
    expect(idp.seen.some((s) => s.url.startsWith('/idp/.well-known/openid-configuration'))).toBe(true);
    const out = proxy.output();
    for (const s of SECRETS) expect(out, `"${s}" in the output`).not.toContain(s);
    const jwksLine = proxy.logs().find((l) => l.msg === 'jwks fetch failed')!;
    expect(String(jwksLine.error)).toContain(`http://127.0.0.1:${idp.port}/jwks`);
  });
});
