// `portcullis revoke --token -` reads the token from stdin, at most 1 MiB: more is exit 2 and
// nothing sent. Before, stdin was read whole, however long (`yes | portcullis revoke --token -`
// grew until memory ran out) and a 2 MiB "token" no request can carry was hashed and "revoked".
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { startRecordingAdmin } from '../../helpers/admin-stand-in.js';
import { CLI } from '../../helpers/proxy-process.js';

/** `portcullis revoke --token - --admin URL` with `input` on stdin. */
function revokeFromStdin(url: string, input: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, 'revoke', '--token', '-', '--admin', url], { env: { ...process.env, PORTCULLIS_ADMIN_TOKEN: 'stdin-test-admin-token' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.stdin.on('error', () => undefined); // the CLI may stop reading (and close stdin) before all is written
    p.stdin.end(input);
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`revoke --token - did not exit in 60 s\n${stderr}`)); }, 60_000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

describe('revoke --token - (stdin)', () => {
  it('a 2 MiB token: exit 2 naming the bound, nothing sent; a real token with a newline is revoked', async () => {
    const admin = await startRecordingAdmin();
    const [huge, ok] = await Promise.all([
      revokeFromStdin(admin.url, Buffer.alloc(2 * 1024 * 1024, 'a')),
      revokeFromStdin(admin.url, Buffer.from('opaque-token-from-stdin\n')),
    ]);
    expect(huge.code, huge.stderr).toBe(2);
    expect(huge.stderr).toContain('more than 1048576 bytes on stdin');
    expect(huge.stdout).not.toContain('revoked');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^revoked token [0-9a-f]{64} /);
    expect(admin.bodies).toHaveLength(1);
  });
});
