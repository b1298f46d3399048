// `portcullis … | head -0`: the reader of stdout is gone before the command writes. The command
// ends with its own exit code and nothing on stderr — before, Node's unhandled EPIPE 'error'
// printed a crash trace ("node:events … Error: write EPIPE") and turned every verdict into exit 1.
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { CLI, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';

/** Run `portcullis ARGS | head -0` in bash; the CLI's own exit code (PIPESTATUS) and its stderr. */
function intoClosedPipe(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', `${quoted} 2>"$ERR_FILE" | head -0; echo "\${PIPESTATUS[0]}"; cat "$ERR_FILE"`], {
      env: { ...process.env, ...env, ERR_FILE: `${writeConfig('')}.stderr` }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`portcullis ${args.join(' ')} | head -0 did not end in 60 s:\n${out}`)); }, 60_000);
    p.on('close', () => {
      clearTimeout(t);
      const [code, ...rest] = out.split('\n');
      resolve({ code: Number(code), stderr: rest.join('\n').trim() });
    });
  });
}

describe('stdout is a closed pipe', () => {
  it('--help, policy --help, check-config (valid: 0), explain (denied: 1): their own exit code, no crash trace', async () => {
    const cfg = writeConfig(baseConfig('http://127.0.0.1:9'));
    const denying = writeConfig(baseConfig('http://127.0.0.1:9', { routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app', auth: 'none' }] }));
    const runs = await Promise.all([
      intoClosedPipe(['--help']),
      intoClosedPipe(['policy', '--help']),
      intoClosedPipe(['check-config', cfg], ADMIN_ENV),
      intoClosedPipe(['explain', '--config', denying, 'GET', '/nowhere'], ADMIN_ENV),
    ]);
    expect(runs.map((r) => r.code), runs.map((r) => r.stderr).join('\n---\n')).toEqual([0, 0, 0, 1]);
    for (const r of runs) {
      expect(r.stderr).not.toMatch(/EPIPE|node:events|Unhandled 'error'|^\s+at /m);
      expect(r.stderr).toBe('');
    }
  });
});
