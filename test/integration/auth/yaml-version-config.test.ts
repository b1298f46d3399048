// A config that says `%YAML 1.1` is refused by check-config and by serve, naming the directive's line: under it
// yaml merged `<<:` keys (a public template's `auth: none` into a route that wrote no auth) and read `no` as false,
// so the file meant something other than what every YAML 1.2 reader (and check-config's ok) made of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { runCli, writeConfig } from '../../helpers/proxy-process.js';

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** An operator's file: the first (public) route is the template the others merge; the admin route forgot its own auth block. */
const yaml11 = (upstream: string): string => `%YAML 1.1
---
server: { listen: { host: 127.0.0.1, port: 0 } }
admin: { listen: { host: 127.0.0.1, port: 0 } }
issuers:
  main: { issuer: https://issuer.test/realms/main, jwks_uri: http://127.0.0.1:9/jwks, audiences: [api://orders] }
upstreams:
  app: { targets: ["${upstream}"] }
routes:
  - &public
    name: docs
    match: { path: /docs/* }
    upstream: app
    auth: none
  - <<: *public
    name: admin
    match: { path: /admin/* }
`;

describe('a %YAML 1.1 config', () => {
  it('check-config exits 2 naming the directive (before: ok, and /admin/* served without a token)', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(yaml11(echo.url))]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('line 1: %YAML 1.1 is not read');
    expect(r.stdout).not.toMatch(/^ok/m);
  });

  it('serve refuses to start with it (exit 2), so nothing is forwarded', async () => {
    const r = await runCli(['serve', '--config', writeConfig(yaml11(echo.url))], {}, 20_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toContain('%YAML 1.1 is not read');
  });

  it('the same file without the directive is refused too: `<<` is no merge key in YAML 1.2', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(yaml11(echo.url).replace('%YAML 1.1\n---\n', ''))]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/routes\[1\]\.auth: required: "none" or an auth block/);
  });
});
