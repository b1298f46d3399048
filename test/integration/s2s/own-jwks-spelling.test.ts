// An issuer entry on the proxy's own JWKS must name internal_tokens.issuer in every spelling of that JWKS URL the
// proxy answers: the listener normalises the path (`%6A`, `//`) and any host case, default port, trailing dot or query
// reaches the published URL. Before, only the exact text counted and these spellings passed check-config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/ports.js';

const OWN = 'https://portcullis.internal';

describe('the proxy\'s own JWKS under another issuer name, spelled otherwise', () => {
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  let port: number;

  const config = (jwksUri: string | null): Record<string, unknown> => ({
    server: { listen: { host: '127.0.0.1', port } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: {
      demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', audiences: ['a'] },
      ...(jwksUri === null ? {} : { from_orders: { issuer: 'https://old.internal', jwks_uri: jwksUri, audiences: ['orders'], algorithms: ['ES256'] } }),
    },
    internal_tokens: { issuer: OWN, signing: 'inline' },
    upstreams: { orders: { targets: [up.url] } },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'internal' } }],
    log: { level: 'warn' },
    verifier: { pool_size: 1 },
  });

  beforeAll(async () => {
    up = await startScriptedUpstream((_req, res) => { res.end('ok'); });
    port = await freePort();
    proxy = await startProxy(config(null));
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
  });

  const refusal = async (jwksUri: string): Promise<{ code: number | null; line: string }> => {
    const r = await runCli(['check-config', '--no-env', writeConfig(config(jwksUri))]);
    return { code: r.code, line: r.stderr.split('\n').find((l) => l.includes('issuers.from_orders.issuer')) ?? r.stdout.trim() };
  };
  const expected = { code: 2, line: expect.stringContaining("issuers.from_orders.issuer: this entry verifies against the proxy's own JWKS") };

  it('refuses a listener path the proxy answers with its keys (%6A, //, %2E)', async () => {
    const keys = await (await fetch(`${proxy.url}/.well-known/jwks.json`)).text();
    expect(JSON.parse(keys)).toMatchObject({ keys: [expect.objectContaining({ kty: 'EC' })] });
    for (const path of ['/.well-known/%6Awks.json', '//.well-known/jwks.json', '/.well-known/jwks%2Ejson']) {
      // the same keys, at this spelling
      expect({ path, body: await (await fetch(`${proxy.url}${path}`)).text() }).toEqual({ path, body: keys });
      // before: "ok: … (1 routes, 1 upstreams, 2 issuers)", exit 0
      expect({ path, ...(await refusal(`http://127.0.0.1:${port}${path}`)) }).toEqual({ path, ...expected });
    }
  });

  it('refuses the published jwks_uri spelled with upper case, its default port, a trailing dot or a query', async () => {
    for (const uri of [`https://PORTCULLIS.internal/.well-known/jwks.json`, `https://portcullis.internal:443/.well-known/jwks.json`,
      `https://portcullis.internal./.well-known/jwks.json`, `${OWN}/.well-known/jwks.json?v=1`, `${OWN}/.well-known/%6Awks.json`]) {
      expect({ uri, ...(await refusal(uri)) }).toEqual({ uri, ...expected });
    }
  });

  it('still takes another issuer at another port or scheme of that host', async () => {
    for (const uri of [`https://portcullis.internal:8443/.well-known/jwks.json`, `http://portcullis.internal/.well-known/jwks.json`]) {
      const r = await runCli(['check-config', '--no-env', writeConfig(config(uri))]);
      expect({ uri, code: r.code }).toEqual({ uri, code: 0 });
    }
  });
});
