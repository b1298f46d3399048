// Seconds fields that become a timer or a JetStream age are bounded by what those can hold:
// `jwks.max_refresh_s` / `min_refresh_s` and `internal_tokens.rotate_after_s` by Node's longest
// timer (2147483 s, ~24.8 days; past it the timer fires after 1 ms — a JWKS without Cache-Control
// was fetched ~200 times a second, a key generated every millisecond), and
// `cluster.revocation.max_token_lifetime_s` by the stream's int64 nanoseconds (nats-server refused
// the stream as "invalid json" for good). Refused by check-config and serve, naming the path;
// before, both said ok and the proxy started.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, runCli, writeConfig } from '../../helpers/proxy-process.js';

let echo: EchoUpstream;
/** A JWKS endpoint without Cache-Control that counts its fetches. */
let jwks: Server;
let fetches = 0;
let jwksUrl = '';

beforeAll(async () => {
  echo = await startEchoUpstream();
  jwks = createServer((_req, res) => { fetches++; res.setHeader('content-type', 'application/json'); res.end('{"keys":[]}'); });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const a = jwks.address();
  jwksUrl = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
});
afterAll(async () => {
  await echo?.close();
  await new Promise((resolve) => jwks?.close(resolve));
});

/** A config whose issuer refreshes its keys every `maxRefreshS` seconds (the JWKS sends no Cache-Control). */
function refreshing(maxRefreshS: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig(echo.url, {
    issuers: { a: { issuer: jwksUrl, discovery: false, jwks_uri: `${jwksUrl}/jwks`, audiences: ['api'], jwks: { max_refresh_s: maxRefreshS } } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: {} }],
    ...extra,
  });
}

describe('seconds past what a timer or the stream can hold', () => {
  it('serve refuses a JWKS refresh period past Node\'s longest timer (exit 2, the path named), and fetches nothing', async () => {
    fetches = 0;
    const r = await runCli(['serve', '--config', writeConfig(refreshing(3_000_000))], { PORTCULLIS_TEST_ADMIN_TOKEN: 'x' }, 20_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toContain('issuers.a.jwks.max_refresh_s: at most 2147483 s');
    expect(fetches).toBe(0);
  });

  it('check-config names every such field', async () => {
    const cfg = refreshing(3_000_000, {
      internal_tokens: { issuer: 'https://portcullis.test', rotate_after_s: 2_147_484 },
      cluster: { revocation: { max_token_lifetime_s: 9_007_199_254_740_991 } },
    });
    (cfg.issuers as any).a.jwks.min_refresh_s = 2_500_000;
    const r = await runCli(['check-config', '--no-env', writeConfig(cfg)]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    for (const p of ['issuers.a.jwks.max_refresh_s', 'issuers.a.jwks.min_refresh_s', 'internal_tokens.rotate_after_s', 'cluster.revocation.max_token_lifetime_s']) {
      expect(r.stderr).toMatch(new RegExp(`${p.replace(/[.]/g, '\\.')}: at most \\d+ s`));
    }
  });

  it('the longest accepted period still starts', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(refreshing(2_147_483))]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
