// A stray argument is bad usage, and the argument is never echoed: the common slip
// `portcullis revoke --token Bearer $TOKEN` (unquoted) leaves the token as a positional, and
// parseArgs's own message ("Unexpected argument 'eyJ…'") printed it to the terminal and CI logs;
// explain's METHOD/PATH errors quoted theirs.
import { describe, it, expect } from 'vitest';
import { runCli, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdHJheS1hcmd1bWVudCJ9.c2lnbmF0dXJlLXN0cmF5LWFyZ3VtZW50';

describe('a stray argument', () => {
  it('revoke --token Bearer TOKEN, serve --config F TOKEN, policy status --config F TOKEN: exit 2, nothing of the token printed', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9'));
    const runs = await Promise.all([
      runCli(['revoke', '--token', 'Bearer', TOKEN, '--admin', 'http://127.0.0.1:9'], { PORTCULLIS_ADMIN_TOKEN: 'stray-argument-admin-token' }),
      runCli(['serve', '--config', cfg, TOKEN], ADMIN_ENV),
      runCli(['policy', 'status', '--config', cfg, TOKEN]),
    ]);
    for (const [r, cmd] of runs.map((r, i) => [r, ['revoke', 'serve', 'policy'][i]!] as const)) {
      expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`portcullis: ${cmd}: unexpected argument (not shown: it may be a token or a secret); this command takes none — quote a value that holds spaces`);
      // not the token, nor any 12 characters of it
      for (let i = 0; i + 12 <= TOKEN.length; i += 6) expect(r.stdout + r.stderr).not.toContain(TOKEN.slice(i, i + 12));
    }
  });

  it('serve FILE, revoke --jti X FILE, policy history FILE (the config without --config, as check-config takes it): exit 2 saying where the file goes', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9'));
    const runs = await Promise.all([
      runCli(['serve', cfg], ADMIN_ENV),
      runCli(['revoke', '--jti', 'x', cfg], ADMIN_ENV),
      runCli(['policy', 'history', cfg]),
    ]);
    for (const [r, cmd] of runs.map((r, i) => [r, ['serve', 'revoke', 'policy'][i]!] as const)) {
      expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`portcullis: ${cmd}: unexpected argument (not shown: it may be a token or a secret); this command takes none — give the config file as --config FILE`);
      expect(r.stderr).not.toContain(cfg);
    }
  });

  it('explain FILE GET /x (the config without --config, as check-config takes it): exit 2 saying where the file goes, the file not shown', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9'));
    const r = await runCli(['explain', cfg, 'GET', '/orders/1'], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('portcullis: explain: --config FILE is required — give the config file as --config FILE, before METHOD PATH');
    expect(r.stderr).not.toContain(cfg);
  });

  it('explain --token Bearer TOKEN PATH (the token lands in METHOD), explain GET TOKEN: exit 2, the argument not shown', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9'));
    const [asMethod, asPath] = await Promise.all([
      runCli(['explain', '--config', cfg, '--token', 'Bearer', TOKEN, '/orders/1'], ADMIN_ENV),
      runCli(['explain', '--config', cfg, 'GET', TOKEN], ADMIN_ENV),
    ]);
    expect(asMethod.code).toBe(2);
    expect(asMethod.stderr).toMatch(/^portcullis: explain: METHOD must be letters/);
    expect(asPath.code).toBe(2);
    expect(asPath.stderr).toMatch(/^portcullis: explain: PATH must start with \//);
    for (const r of [asMethod, asPath]) for (let i = 0; i + 12 <= TOKEN.length; i += 6) expect(r.stdout + r.stderr).not.toContain(TOKEN.slice(i, i + 12));
  });
});
