// A value option given twice on the command line is bad usage (exit 2, one line naming it), for
// every command: before, the last value silently won — `revoke --jti a --jti b` revoked only b and
// printed "revoked", `serve --config a --config b` served b. A boolean flag repeated still passes.
import { describe, it, expect } from 'vitest';
import { startRecordingAdmin } from '../../helpers/admin-stand-in.js';
import { runCli, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';

const TOKEN_ENV = { PORTCULLIS_ADMIN_TOKEN: 'repeated-flags-admin-token' };

describe('a value option given twice', () => {
  it('revoke --jti a --jti b: exit 2 naming --jti, nothing sent to the admin API', async () => {
    const admin = await startRecordingAdmin();
    const [twice, once] = await Promise.all([
      runCli(['revoke', '--jti', 'a', '--jti=b', '--admin', admin.url], TOKEN_ENV),
      runCli(['revoke', '--jti', 'c', '--admin', admin.url], TOKEN_ENV),
    ]);
    expect(twice.code, twice.stdout + twice.stderr).toBe(2);
    expect(twice.stderr.split('\n')[0]).toBe('portcullis: revoke: --jti given more than once: give it once (the last value would have won silently)');
    expect(twice.stdout).not.toContain('revoked');
    // the control: one --jti is sent and reported
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toContain('revoked jti c');
    expect(admin.bodies.map((b) => (JSON.parse(b) as { value: string }).value)).toEqual(['c']);
  });

  it('revoke --admin twice, --reason twice: exit 2 naming each', async () => {
    const admin = await startRecordingAdmin();
    const [a, r] = await Promise.all([
      runCli(['revoke', '--jti', 'a', '--admin', 'http://127.0.0.1:9', '--admin', admin.url], TOKEN_ENV),
      runCli(['revoke', '--jti', 'a', '--admin', admin.url, '--reason', 'x', '--reason', 'y'], TOKEN_ENV),
    ]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^portcullis: revoke: --admin given more than once/);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^portcullis: revoke: --reason given more than once/);
    expect(admin.bodies).toEqual([]);
  });

  it('serve --config twice: exit 2 before reading either file', async () => {
    const good = writeConfig(baseConfig('http://127.0.0.1:9'));
    const r = await runCli(['serve', '--config', '/nonexistent/a.yaml', '--config', good], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^portcullis: serve: --config given more than once/);
    expect(r.stdout).not.toMatch(/listening/);
  });

  it('explain --host twice, dev --port twice, policy --config twice: exit 2 naming the option', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9'));
    const [explain, dev, policy] = await Promise.all([
      runCli(['explain', '--config', cfg, '--host', 'a.example', '--host', 'b.example', 'GET', '/x'], ADMIN_ENV),
      runCli(['dev', '--port', '0', '--port', '0']),
      runCli(['policy', 'status', '--config', cfg, '--config', cfg]),
    ]);
    for (const [r, name] of [[explain, 'explain: --host'], [dev, 'dev: --port'], [policy, 'policy: --config']] as const) {
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`portcullis: ${name} given more than once`);
    }
  });

  it('a boolean flag repeated means the same: check-config --no-env --no-env passes', async () => {
    const r = await runCli(['check-config', '--no-env', '--no-env', writeConfig(baseConfig('http://127.0.0.1:9'))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('environment not checked');
  });
});
