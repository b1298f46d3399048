// `revoke --kid` of a key its issuer publishes without a `kid`: such a key is named `~` + its RFC 7638
// thumbprint (the name the `jwks loaded` log line lists), and a revocation of that name refuses the tokens
// it signed. Before, a token verified by a kid-less key carried no kid at all: no `--kid` value could
// reach it, so a compromised key of such an issuer could not be revoked here.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, runCli, type ProxyProcess } from '../../helpers/proxy-process.js';
import { makeKey } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { bearer, call, startRecorder, waitReady, type Recorder } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const key = makeKey('ES256', 'unpublished-kid');
const { kid: _dropped, ...kidless } = key.jwk as unknown as Record<string, unknown>;

let echo: EchoUpstream;
let jwks: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  jwks = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [kidless] }));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { plain: { issuer: TEST_ISSUER, jwks_uri: `${jwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256'] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), jwks?.close()]);
});

describe('revoking a key published without a kid', () => {
  it('the key is named by its thumbprint in the log; `revoke --kid` of that name refuses its tokens', async () => {
    // signed without a kid header, verified by the one ES256 key of the set
    const token = makeToken(key, { header: { kid: undefined } });
    const ok = await call(`${proxy.url}/api/x`, { headers: bearer(token) });
    expect(ok.status).toBe(200);

    await waitFor('jwks loaded line', () => proxy.logs().some((l) => l.msg === 'jwks loaded'));
    const kids = proxy.logs().find((l) => l.msg === 'jwks loaded')!.kids as string[];
    expect(kids).toHaveLength(1);
    expect(kids[0]).toMatch(/^~[A-Za-z0-9_-]{43}$/);

    const out = await runCli(['revoke', '--admin', proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--kid', kids[0]!], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
    const after = await call(`${proxy.url}/api/x`, { headers: bearer(token) });
    expect(after.status).toBe(401);
    expect(String(after.headers['www-authenticate'])).toContain('revoked');
    // a fresh token of the same key, never cached: refused as well
    const fresh = await call(`${proxy.url}/api/x`, { headers: bearer(makeToken(key, { header: { kid: undefined } })) });
    expect(fresh.status).toBe(401);
  });
});
