// A mistyped flag names the flag it most likely meant, for every command: before, the commands
// that take a FILE or a METHOD PATH (check-config, explain, bench, policy) printed Node's advice to
// pass the typo after `--` as a positional, and none suggested the right spelling.
import { describe, it, expect } from 'vitest';
import { runCli } from '../../helpers/proxy-process.js';

describe.concurrent('a mistyped option', () => {
  it.each([
    [['check-config', '--no-evn', 'a.yaml'], "check-config: Unknown option '--no-evn': did you mean --no-env?"],
    [['serve', '--confg', 'a.yaml'], "serve: Unknown option '--confg': did you mean --config?"],
    [['revoke', '--jit', 'abc', '--admin', 'http://127.0.0.1:9'], "revoke: Unknown option '--jit': did you mean --jti?"],
    [['explain', '--cofig', 'a.yaml', 'GET', '/'], "explain: Unknown option '--cofig': did you mean --config?"],
    [['policy', 'status', '--jsno', '--config', 'a.yaml'], "policy: Unknown option '--jsno': did you mean --json?"],
    [['check-config', '--strict', 'a.yaml'], "check-config: Unknown option '--strict'; the options are listed below"],
  ])('%j → exit 2: %s', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`portcullis: ${message}`);
    expect(r.stderr).not.toContain('positional argument');
    expect(r.stderr).toContain('Usage: portcullis');
  });

  it('an unknown "option" that is no option word (a pasted token) is not echoed', async () => {
    const r = await runCli(['revoke', '--eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln', '--admin', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('eyJ');
    expect(r.stderr.split('\n')[0]).toBe('portcullis: revoke: Unknown option (not shown: it may be a token or a secret); the options are listed below');
  });

  it.each([
    ['a token pasted after one dash', '-eyJhbGciOiJIUzI1NiJ9'],
    ['an opaque hex token after two', '--a3f9c0d18e7b6a5f4e3d2c1b0a9f8e7d'],
    ['a short group with a token in it', '-tQk9fZ7pL0aB3cD'],
  ])('%s is not echoed (regression)', async (_what, arg) => {
    const r = await runCli(['revoke', arg, '--admin', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain(arg.replace(/^-+/, '').slice(1));
    expect(r.stderr.split('\n')[0]).toBe('portcullis: revoke: Unknown option (not shown: it may be a token or a secret); the options are listed below');
  });
});
