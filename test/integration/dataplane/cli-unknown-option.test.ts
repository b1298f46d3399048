// A mistyped flag names the flag it most likely meant, for every command: before, the commands
// that take a FILE or a METHOD PATH (check-config, explain, bench, policy) printed Node's advice to
// pass the typo after `--` as a positional, and none suggested the right spelling.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import { runCli } from '../../helpers/proxy-process.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-option-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

// An option a policy subcommand does not take was ignored: `rollback --base 3` rolled back with no
// base check, `history --by x` listed as if nothing were wrong (before: exit 0 or a config error).
describe.concurrent('an option the policy subcommand does not take', () => {
  it.each([
    [['policy', 'history', '--config', 'a.yaml', '--by', 'x'], 'policy history: --by does not apply to history (it takes --config, --json)'],
    [['policy', 'rollback', '--config', 'a.yaml', '--to', '1', '--base', '3'], 'policy rollback: --base does not apply to rollback (it takes --config, --to, --by)'],
    [['policy', 'status', '--config', 'a.yaml', '--force'], 'policy status: --force does not apply to status (it takes --config, --wait, --json)'],
    [['policy', 'push', '--config', 'a.yaml', '--json'], 'policy push: --json does not apply to push (it takes --config, --policy, --by, --base, --force)'],
    // each usage error names the subcommand (before: "--config FILE is required", "--to: expected a number" alone)
    [['policy', 'push'], 'policy push: --config FILE is required'],
    [['policy', 'rollback', '--config', 'a.yaml', '--to', 'x'], 'policy rollback: --to: expected a number, got "x"'],
    [['policy', 'rollback', '--config', 'a.yaml'], 'policy rollback: --to N is required'],
  ])('%j → exit 2: %s', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`portcullis: ${message}`);
  });

  it('push without --policy from a file that holds only the local part says so, nothing published (before: "upstreams: required", "routes: required")', async () => {
    const file = join(dir, 'local.yaml');
    writeFileSync(file, 'cluster:\n  nats: { servers: ["nats://127.0.0.1:9"] }\n  auth: { mode: none }\n  policy: { source: cluster }\n');
    const r = await runCli(['policy', 'push', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`portcullis: policy push: ${file} holds no policy (issuers, upstreams, routes…): give it as --policy FILE; nothing published`);
  });
});
