// `portcullis revoke` usage errors: nothing to revoke, two kinds, a bad time, an unknown
// option, a misplaced --before, no destination — each a UsageError (exit 2) with a clear message.
import { describe, expect, it } from 'vitest';
import { revoke } from '../../../../cluster/cli/revoke.js';
import { UsageError } from '../../../../cluster/cli/usage-error.js';

const fails = async (argv: string[], message: string | RegExp): Promise<void> => {
  const err = await revoke(argv, 'USAGE').then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toMatch(message);
};

describe('revoke (usage)', () => {
  it('needs something to revoke', () => fails(['--config', 'x.yaml'], /nothing to revoke: give one of --jti, --token, --sub, --client, --kid, --sid/));
  it('takes --sid as one kind, without --before', () => fails(['--sid', 's', '--before', 'now', '--admin', 'http://x'], /--before only applies to --sub and --client/));
  it('takes exactly one kind', () => fails(['--jti', 'a', '--sub', 'b', '--config', 'x.yaml'], /exactly one of .*\(got --jti and --sub\)/));
  it('refuses a bad time', () => fails(['--sub', 'a', '--before', 'last tuesday', '--admin', 'http://x'], /--before: "last tuesday" is not a time/));
  it('refuses a time without zone', () => fails(['--jti', 'a', '--exp', '2030-01-01T00:00:00', '--admin', 'http://x'], /--exp: .*no time zone/));
  it('refuses an unknown option', () => fails(['--email', 'a@b'], /Unknown option '--email'/));
  it('refuses --before with --jti', () => fails(['--jti', 'a', '--before', 'now', '--admin', 'http://x'], /--before only applies to --sub and --client/));
  it('refuses --issuer with --token', () => fails(['--token', 't', '--issuer', 'i', '--admin', 'http://x'], /--issuer does not apply to --token/));
  // the proxy hashes the b64token it read (RFC 6750 §2.1): the hash of anything else revokes nothing, silently
  it('refuses --token with the Authorization scheme still on it', () => fails(['--token', 'Bearer eyJ.a.b', '--admin', 'http://127.0.0.1:1'], /--token: .*without the "Bearer " scheme/));
  it('refuses --token with characters no bearer token has', () => fails(['--token', 'eyJ.a.b, other', '--admin', 'http://127.0.0.1:1'], /--token: not a bearer token/));
  it('needs a destination', () => fails(['--kid', 'k'], /give --config FILE .* or --admin URL/));
  it('needs the admin token variable', () => fails(['--kid', 'k', '--admin', 'http://127.0.0.1:1', '--admin-token-env', 'PT_SURELY_UNSET_VAR'], /PT_SURELY_UNSET_VAR .* is not set/));
  // a name on every object's prototype is no set variable: before, `Bearer function toString() {…}` went to the admin API
  it('needs the admin token variable, also when named like an Object member', () => fails(['--kid', 'k', '--admin', 'http://127.0.0.1:1', '--admin-token-env', 'toString'], /environment variable .* \(admin token\) is not set/));
  it('reports an unreadable config', () => fails(['--kid', 'k', '--config', '/nonexistent/p.yaml'], /invalid config/));
  it('prints help', async () => {
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { out.push(s); return true; }) as typeof process.stdout.write;
    try { await revoke(['--help']); } finally { process.stdout.write = write; }
    expect(out.join('')).toContain('Usage: portcullis revoke');
  });
});
