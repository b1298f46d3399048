// The `portcullis` command as a user runs it: check-config on good and bad files
// (exit 2, every error with its path), bad usage (exit 2 with usage), --help, and
// serve refusing a bad config or a busy port with a readable message.
import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { runCli, writeConfig, ROOT, ADMIN_ENV, baseConfig } from '../../helpers/proxy-process.js';

// Every case is one or two CLI processes of its own, mostly waiting on their start: the cases of each
// describe run side by side (describe.concurrent, vitest's maxConcurrency 5 at a time).
const servers: Server[] = [];
afterAll(async () => { await Promise.all(servers.map((s) => new Promise((r) => s.close(r)))); });

const BAD = `
server:
  listen: { port: 8080 }
  listne: 1
  port: 9000
admin:
  token: inline-secret
upstreams:
  orders: { targets: ["http://127.0.0.1:3001"] }
  users: { targets: ["not a url"] }
routes:
  - { name: a, match: { path: /a }, upstream: orders, auth: none }
  - { name: b, match: { path: /b/*/c }, upstream: users, auth: none }
  - { name: c, match: { path: /c }, upstream: ordrs, auth: none }
  - { name: d, match: { path: /d }, upstream: orders }
`;

describe.concurrent('check-config', () => {
  it('a valid file: exit 0 and a summary', async () => {
    // the variables the example names must be set (cli-env.test.ts: unset ones fail, --no-env skips them)
    const r = await runCli(['check-config', join(ROOT, 'deploy', 'portcullis.example.yaml')], { PORTCULLIS_ADMIN_TOKEN: 'a', PORTCULLIS_INTROSPECTION_SECRET: 'b' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: .*portcullis\.example\.yaml \(\d+ routes?, \d+ upstreams?, \d+ issuers?\)/);
  });

  it('an invalid file: exit 2 and every error with its path', async () => {
    const file = writeConfig(BAD);
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(2);
    const expected = [
      'server.listne: unknown key',
      'server.port: removed key; use server.listen.port',
      'admin.token: removed key; use admin.token_env',
      'upstreams.users.targets[0]: ',
      'routes[1].match.path: a * wildcard is only allowed as the last segment',
      'routes[2].upstream: unknown upstream "ordrs" (known: orders, users)',
      'routes[3].auth: required',
    ];
    for (const e of expected) expect(r.stderr).toContain(e);
    expect(r.stderr).toContain(`invalid config ${file}: ${expected.length} error(s)`);
    expect(r.stderr).not.toContain('inline-secret');
  });

  it('mistakes from an Oathkeeper/Envoy rule set: a hidden route, a scope string, a regex, a URL, {id} — each named with its fix', async () => {
    // before: the hidden route passed (exit 0 for that file alone), and the rest said only "expected object, got string" / "a path starting with /"
    const text = `
issuers:
  keycloak: { issuer: https://kc.corp.example/realms/corp, audiences: [orders-api] }
upstreams:
  orders: { targets: ["http://127.0.0.1:3001"] }
routes:
  - { name: read, match: { path: /orders/:id, methods: [GET] }, upstream: orders, auth: { scopes: { all: [orders:read] } } }
  - { name: write, match: { path: /orders/:id, methods: [PUT, DELETE] }, upstream: orders, auth: { scopes: { all: [orders:write] } } }
  - { name: read-open, match: { path: /orders/:orderId, methods: [GET] }, upstream: orders, auth: none }
  - { name: scope-string, match: { path: /s }, upstream: orders, auth: { scopes: "orders:read orders:write" } }
  - { name: regex, match: { path: "/api/v1/.*" }, upstream: orders, auth: none }
  - { name: url, match: { path: "https://api.corp.example/<**>" }, upstream: orders, auth: none }
  - { name: template, match: { path: "/items/{id}" }, upstream: orders, auth: none }
`;
    const r = await runCli(['check-config', '--no-env', writeConfig(text)]);
    expect(r.code, r.stderr).toBe(2);
    const expected = [
      'routes[2].match: route "read-open" is never matched: route "read" (routes[0]) comes first',
      'routes[3].auth.scopes: expected object, got string — write scopes: { all: [',
      'routes[4].match.path: route paths are neither regular expressions nor globs',
      'routes[5].match.path: a path, not a URL: put the host in match.host',
      'routes[6].match.path: parameters are written :id, not {id}',
    ];
    for (const e of expected) expect(r.stderr).toContain(e);
    expect(r.stderr).toContain(`: ${expected.length} error(s)`); // "write" (other methods) is not flagged
  });

  it('a section whose every child is commented out (`jwks:` alone is null): exit 2 naming it, no crash', async () => {
    // before: "portcullis: Cannot read properties of null (reading 'min_refresh_s')", exit 1, no error listed
    const text = 'upstreams:\n  a: { targets: ["http://127.0.0.1:9"] }\nissuers:\n  main:\n    issuer: https://idp.example.com\n    audiences: [api]\n    jwks:\n      # min_refresh_s: 60\nroutes:\n  - { name: r, match: { path: /x }, upstream: a, auth: {} }\n';
    const r = await runCli(['check-config', '--no-env', writeConfig(text)]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('issuers.main.jwks: ');
    expect(r.stderr).not.toContain('Cannot read properties');
  });

  it('a YAML syntax error: exit 2 with the line', async () => {
    const r = await runCli(['check-config', writeConfig('routes: [\n  - a: b\n  c\n')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line \d+: /);
    // the parser's " at line 3, column 1:" tail, left dangling by the code frame cut after it, is said once as "(column N)"
    expect(r.stderr).toMatch(/line \d+: [^\n]+ \(column \d+\)\n/);
    expect(r.stderr).not.toMatch(/at line \d+, column \d+/);
  });

  it('a missing file: exit 2 naming it', async () => {
    const r = await runCli(['check-config', '/nonexistent/portcullis.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent/portcullis.yaml: cannot read: no such file (ENOENT)');
  });

  // before: "portcullis:   /nonexistent/…: cannot read" — an indented problem line with no word of what the file was
  it('policy push: a missing --config or --policy file is named as the config or the policy', async () => {
    const local = writeConfig({ admin: { listen: { host: '127.0.0.1', port: 0 } }, cluster: { nats: { servers: ['nats://127.0.0.1:9'] }, auth: { mode: 'none' }, policy: { source: 'cluster' } } });
    const [config, policy] = await Promise.all([
      runCli(['policy', 'push', '--config', '/nonexistent/portcullis.yaml']),
      runCli(['policy', 'push', '--config', local, '--policy', '/nonexistent/policy.yaml']),
    ]);
    expect(config.code).toBe(2);
    expect(config.stderr.split('\n').slice(0, 2)).toEqual(['portcullis: invalid config /nonexistent/portcullis.yaml: 1 error(s)', '  /nonexistent/portcullis.yaml: cannot read: no such file (ENOENT)']);
    expect(policy.code).toBe(2);
    expect(policy.stderr.split('\n').slice(0, 2)).toEqual(['portcullis: invalid policy /nonexistent/policy.yaml: 1 error(s), nothing published', '  /nonexistent/policy.yaml: cannot read: no such file (ENOENT)']);
  });

  it('a relative path that is not there: says where it looked (the working directory is often not the one meant)', async () => {
    const r = await runCli(['check-config', 'no-such-portcullis.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no-such-portcullis.yaml: cannot read: no such file (ENOENT, looked for ${join(process.cwd(), 'no-such-portcullis.yaml')})`);
  });
});

describe.concurrent('usage', () => {
  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['serve', '--bogus'], "Unknown option '--bogus'"],
    [['serve'], '--config FILE is required'],
    [['serve', '--config', 'x.yaml', '--workers', 'many'], '--workers: expected a number'],
    [['serve', '--config', 'x.yaml', '--workers', '0'], '--workers: expected a number'],
    // the config caps server.workers at 256; the flag forked as many as it was told (a typo: a fork bomb)
    [['serve', '--config', 'x.yaml', '--workers', '100000'], '--workers: expected a number from 1 to 256'],
    [['serve', '--config', 'x.yaml', '--workers', '257'], '--workers: expected a number from 1 to 256'],
    [['check-config'], 'expected exactly one FILE'],
    [['check-config', 'a.yaml', 'b.yaml'], 'expected exactly one FILE'],
    [['check-config', '--strict', 'a.yaml'], "Unknown option '--strict'"],
    [[], 'Usage: portcullis <command>'],
  ])('%j → exit 2: %s', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain(message);
  });

  it.each([[['--help']], [['serve', '--help']], [['check-config', '--help']]])('%j → exit 0 with usage', async (args) => {
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: portcullis/);
  });
});

describe.concurrent('check-config --config FILE, as serve and explain spell it (before: Node\'s "Unknown option" advice)', () => {
  it('validates FILE; FILE and --config together are one too many', async () => {
    const file = writeConfig(baseConfig('http://127.0.0.1:1'));
    const r = await runCli(['check-config', '--no-env', '--config', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ok: ${file}`);
    const both = await runCli(['check-config', '--config', file, file]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('expected exactly one FILE');
  });
});

describe.concurrent('--version (before: "unknown command", exit 2)', () => {
  it.each([[['--version']], [['-V']], [['version']]])('%j → exit 0 with package.json\'s version', async (args) => {
    const r = await runCli(args);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`portcullis ${version} (node ${process.version})\n`);
  });
});

describe.concurrent('serve refuses to start', () => {
  it('with an invalid config: exit 2, errors listed', async () => {
    const r = await runCli(['serve', '--config', writeConfig(BAD)], ADMIN_ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('routes[2].upstream: unknown upstream "ordrs"');
  });

  it('when the port is taken: non-zero exit with a message naming the address', async () => {
    const s = createServer();
    servers.push(s);
    const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
    const cfg = baseConfig('http://127.0.0.1:1', { server: { listen: { host: '127.0.0.1', port } } });
    const r = await runCli(['serve', '--config', writeConfig(cfg)], ADMIN_ENV);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(`127.0.0.1:${port}`);
  });
});
