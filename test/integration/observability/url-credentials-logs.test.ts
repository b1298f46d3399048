// Credentials inside configured URLs (userinfo, a vendor key in the query) never reach the process
// log: an issuer whose `jwks_uri` or `discovery` URL carries them, served by an identity provider
// that answers 500, makes the proxy log its failed fetches — those lines name the URL by scheme,
// host and path only. A `nats://user:password@` server entry is refused by its path (nats.js never
// sends it), by check-config and the CLI commands alike, without printing the password.
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

describe('NATS server URLs with credentials', () => {
  // nats.js never sends a URL's user:password (or token@): the server refused the connection, the
  // password sat in the config, and `portcullis policy` printed it in "cannot reach NATS: none of …"
  const PASSWORD = 'nats-pass-5ecret';
  // a generated (base64) password with a '/': before, the entry passed and revoke printed it in "Invalid URL (…)"
  const SLASHED = 'Zm9v/YmFy+cXV4';
  let config: string;
  let port: number;
  beforeAll(async () => {
    port = await deadPort();
    config = writeConfig(baseConfig('http://127.0.0.1:9', {
      cluster: { nats: { servers: [`nats://127.0.0.1:${port}`, `nats://natsuser:${PASSWORD}@127.0.0.1:${port}`, `nats://natsuser:${SLASHED}@127.0.0.1:${port}`] }, auth: BUS_AUTH },
    }));
  });

  it('check-config refuses the entry by its path, pointing at user + password_env, never printing the password', async () => {
    const r = await runCli(['check-config', config], { ...ADMIN_ENV, ...BUS_ENV });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('cluster.nats.servers[1]: a server without user:password');
    expect(r.stderr).toContain('cluster.nats.user + password_env');
    expect(r.stderr).toContain('cluster.nats.servers[2]: a server without user:password');
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(r.stdout + r.stderr).not.toContain('YmFy');
  });

  it('policy status and revoke --config refuse the config without printing the password', async () => {
    const [status, revoke] = await Promise.all([
      runCli(['policy', 'status', '--config', config], { ...ADMIN_ENV, ...BUS_ENV }),
      runCli(['revoke', '--jti', 'never-published', '--config', config], { ...ADMIN_ENV, ...BUS_ENV }),
    ]);
    for (const r of [status, revoke]) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain('cluster.nats.servers[1]');
      expect(r.stderr).toContain('cluster.nats.servers[2]');
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      expect(r.stdout + r.stderr).not.toContain('YmFy');
    }
  });
});
