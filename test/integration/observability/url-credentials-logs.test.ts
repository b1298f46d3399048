// Credentials inside configured URLs (userinfo, a vendor key in the query) never reach the process
// log: an issuer whose `jwks_uri` or `discovery` URL carries them, served by an identity provider
// that answers 500, makes the proxy log its failed fetches — those lines name the URL by scheme,
// host and path only. `portcullis revoke --config` against a NATS server it cannot reach names the
// servers without the user:password a `nats://` URL may carry.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, BUS_AUTH, BUS_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { deadPort, startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { SECRET_ENV, introspection } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

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
    await waitFor("failed('jwks fetch failed') && failed('introspection endpoint discovery failed')", () => failed('jwks fetch failed') && failed('introspection endpoint discovery failed'), 15_000, { detail: () => proxy.output() });
    // the fetches were made to the configured URLs (the proxy did use them)
    expect(idp.seen.some((s) => s.url.startsWith('/jwks?api_key='))).toBe(true);
    expect(idp.seen.some((s) => s.url.startsWith('/idp/.well-known/openid-configuration'))).toBe(true);
    const out = proxy.output();
    for (const s of SECRETS) expect(out, `"${s}" in the output`).not.toContain(s);
    const jwksLine = proxy.logs().find((l) => l.msg === 'jwks fetch failed')!;
    expect(String(jwksLine.error)).toContain(`http://127.0.0.1:${idp.port}/jwks`);
  });
});

describe('NATS server URLs in CLI messages', () => {
  it('revoke --config names an unreachable server without the password in its URL', async () => {
    const port = await deadPort();
    const config = writeConfig(baseConfig('http://127.0.0.1:9', {
      cluster: { nats: { servers: [`nats://natsuser:nats-pass-5ecret@127.0.0.1:${port}`] }, auth: BUS_AUTH },
    }));
    const r = await runCli(['revoke', '--jti', 'never-published', '--config', config], { ...ADMIN_ENV, ...BUS_ENV });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
    expect(r.stdout + r.stderr).not.toContain('nats-pass-5ecret');
  });
});
