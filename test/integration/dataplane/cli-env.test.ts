// A config that cannot start fails every command that reads it (issue 8.13): check-config,
// explain and serve report each `*_env` variable that is unset or empty (and each `*_file`
// that cannot be read) with its config path and exit 2; `check-config --no-env` validates
// without the environment (pipelines without secrets) and says so.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, baseConfig, runCli, writeConfig } from '../../helpers/proxy-process.js';

/** Names variables for every component that reads a secret; none of them is set by the test. */
function needsSecrets(): Record<string, unknown> {
  return baseConfig('http://127.0.0.1:9', {
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PT_CLI_ADMIN' },
    issuers: {
      main: {
        issuer: 'http://127.0.0.1:9/realms/main', audiences: ['api'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PT_CLI_INTROSPECTION' },
        token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_CLI_EXCHANGE' },
      },
    },
    upstreams: { app: { targets: ['http://127.0.0.1:9'], client_credentials: { issuer: 'main', client_id: 'portcullis', client_secret_env: 'PT_CLI_CC' } } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
    dpop: { nonce: { secret_env: 'PT_CLI_DPOP' } },
  });
}

const EXPECTED = [
  'admin.token_env: environment variable PT_CLI_ADMIN is not set',
  'issuers.main.introspection.client_secret_env: environment variable PT_CLI_INTROSPECTION is not set',
  'issuers.main.token_exchange.client_secret_env: environment variable PT_CLI_EXCHANGE is not set',
  'upstreams.app.client_credentials.client_secret_env: environment variable PT_CLI_CC is not set',
  'dpop.nonce.secret_env: environment variable PT_CLI_DPOP is not set',
];

const ALL_SET = {
  PT_CLI_ADMIN: 'admin-token', PT_CLI_INTROSPECTION: 's1', PT_CLI_EXCHANGE: 's2', PT_CLI_CC: 's3', PT_CLI_DPOP: 'x'.repeat(32),
};

describe('check-config and the environment', () => {
  it('an unset *_env variable: exit 2, each missing variable with its config path', async () => {
    const file = writeConfig(needsSecrets());
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(2);
    for (const e of EXPECTED) expect(r.stderr).toContain(e);
    expect(r.stderr).toContain(`invalid config ${file}: ${EXPECTED.length} error(s)`);
    expect(r.stdout).toBe('');
  });

  it('an empty variable counts as unset; a DPoP nonce secret under 32 bytes is refused', async () => {
    const r = await runCli(['check-config', writeConfig(needsSecrets())], { ...ALL_SET, PT_CLI_CC: '', PT_CLI_DPOP: 'short' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('upstreams.app.client_credentials.client_secret_env: environment variable PT_CLI_CC is empty');
    expect(r.stderr).toContain('dpop.nonce.secret_env: PT_CLI_DPOP must hold at least 32 bytes (has 5)');
    expect(r.stderr).toContain('2 error(s)');
  });

  it('every variable set: exit 0', async () => {
    const r = await runCli(['check-config', writeConfig(needsSecrets())], ALL_SET);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: /);
  });

  it('--no-env skips the environment check and says so; schema errors still fail', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(needsSecrets())]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: .*environment not checked/);
    const bad = await runCli(['check-config', '--no-env', writeConfig({ ...needsSecrets(), routes: [] })]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('routes: ');
  });

  it('a misspelt key beside an admin section without listen (its default), or an empty cluster.auth: exit 2 listing it, no crash', async () => {
    // the environment check also runs on a schema-invalid document, to list everything at once; it read
    // admin.listen.host and cluster.auth.mode unguarded: exit 1 "Cannot read properties of undefined (reading 'host')"
    const typo = { ...needsSecrets(), admin: { token_env: 'PT_CLI_ADMIN' }, routes: [{ name: 'all', match: { path: '/*', methds: ['GET'] }, upstream: 'app', auth: 'none' }] };
    const emptyAuth = { ...needsSecrets(), cluster: { auth: null } };
    const [a, b] = await Promise.all([runCli(['check-config', writeConfig(typo)], ALL_SET), runCli(['check-config', writeConfig(emptyAuth)], ALL_SET)]);
    expect(a.code, a.stderr).toBe(2);
    expect(a.stderr).toContain('routes[0].match.methds: unknown key');
    expect(b.code, b.stderr).toBe(2);
    expect(b.stderr).toContain('cluster.auth: ');
    for (const r of [a, b]) expect(r.stderr).not.toContain('Cannot read properties');
  });

  it('a file the config names that cannot be read: exit 2 with its path (a TLS certificate)', async () => {
    const cfg = { ...needsSecrets(), server: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: '/nonexistent/tls.crt', key_file: '/nonexistent/tls.key' } } };
    const r = await runCli(['check-config', writeConfig(cfg)], ALL_SET);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('server.tls.cert_file: cannot read /nonexistent/tls.crt: no such file (ENOENT)');
    expect(r.stderr).toContain('server.tls.key_file: cannot read /nonexistent/tls.key: no such file (ENOENT)');
  });

  it('the shipped example validates without its secrets only with --no-env', async () => {
    const example = join(ROOT, 'deploy', 'portcullis.example.yaml');
    const strict = await runCli(['check-config', example]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain('admin.token_env: environment variable PORTCULLIS_ADMIN_TOKEN is not set');
    expect((await runCli(['check-config', '--no-env', example])).code).toBe(0);
  });
});

describe('explain and serve on a config that cannot start', () => {
  it('explain: exit 2 with the missing variable and its path', async () => {
    const r = await runCli(['explain', '--config', writeConfig(needsSecrets()), 'GET', '/x'], { ...ALL_SET, PT_CLI_INTROSPECTION: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('issuers.main.introspection.client_secret_env: environment variable PT_CLI_INTROSPECTION is empty');
    expect(r.stdout).toBe('');
  });

  it('serve: exit 2 with the same report, before anything listens', async () => {
    const r = await runCli(['serve', '--config', writeConfig(needsSecrets())], { ...ALL_SET, PT_CLI_DPOP: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('dpop.nonce.secret_env: environment variable PT_CLI_DPOP is empty');
    expect(r.stdout).not.toContain('"listening"');
  });

  // /policy, /reload and /revocations answer whoever holds the admin token, and nothing slows a
  // guesser: beyond loopback (0.0.0.0 in every container and pod config) a short one is refused.
  it('an admin API beyond loopback with a token under 16 bytes: serve exits 2 before listening; 16 bytes, or loopback, pass', async () => {
    const exposed = (host: string): string => writeConfig({ ...needsSecrets(), admin: { listen: { host, port: 0 }, token_env: 'PT_CLI_ADMIN' } });
    for (const host of ['0.0.0.0', '::']) {
      const r = await runCli(['serve', '--config', exposed(host)], { ...ALL_SET, PT_CLI_ADMIN: 'admin-token' });
      expect(r.code, host).toBe(2);
      expect(r.stderr).toContain('admin.token_env: PT_CLI_ADMIN must hold at least 16 bytes when the admin API listens beyond loopback (has 11)');
      expect(r.stderr).not.toContain('admin-token');
      expect(r.stdout).not.toContain('"listening"');
    }
    expect((await runCli(['check-config', exposed('0.0.0.0')], { ...ALL_SET, PT_CLI_ADMIN: 'x'.repeat(16) })).code).toBe(0);
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
      const r = await runCli(['check-config', exposed(host)], { ...ALL_SET, PT_CLI_ADMIN: 'a' });
      expect(r.stderr, host).toBe('');
      expect(r.code).toBe(0);
    }
  }, 120_000); // eight CLI runs, one after another

  // node:http reads `Bearer <visible ASCII>`: a token with a trailing newline (a Kubernetes Secret
  // made from a file), a space or a non-ASCII character started fine and then answered every admin
  // call — `portcullis revoke` included — 401, though client and server read the same variable
  it('an admin or metrics token no Authorization header can carry: serve and check-config exit 2 naming it, never its value', async () => {
    const cfg = writeConfig({ ...needsSecrets(), admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PT_CLI_ADMIN', metrics_token_env: 'PT_CLI_METRICS' } });
    const serve = await runCli(['serve', '--config', cfg], { ...ALL_SET, PT_CLI_ADMIN: 'admin-secret-1\n', PT_CLI_METRICS: 'scrape secret' }, 20_000);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('admin.token_env: PT_CLI_ADMIN holds a trailing newline: an `Authorization: Bearer` header carries visible ASCII only');
    expect(serve.stderr).toContain('admin.metrics_token_env: PT_CLI_METRICS holds whitespace: an `Authorization: Bearer` header carries visible ASCII only');
    expect(serve.stdout).not.toContain('"listening"');
    const check = await runCli(['check-config', cfg], { ...ALL_SET, PT_CLI_ADMIN: 'admin-sécret', PT_CLI_METRICS: ' \t' });
    expect(check.code).toBe(2);
    expect(check.stderr).toContain('admin.token_env: PT_CLI_ADMIN holds a non-ASCII character');
    expect(check.stderr).toContain('admin.metrics_token_env: PT_CLI_METRICS holds only whitespace');
    for (const out of [serve.stderr, serve.stdout, check.stderr, check.stdout]) expect(out).not.toMatch(/admin-secret-1|scrape secret|admin-sécret/);
  }, 60_000);

  it('serve --workers 2: exit 2 from the primary, no worker forked', async () => {
    const r = await runCli(['serve', '--workers', '2', '--config', writeConfig(needsSecrets())], { ...ALL_SET, PT_CLI_EXCHANGE: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('issuers.main.token_exchange.client_secret_env: environment variable PT_CLI_EXCHANGE is empty');
  });
});
