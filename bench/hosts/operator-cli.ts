// A `portcullis` command run from a host's namespace as an operator runs it (`revoke`,
// `policy`): compiled CLI, the given secrets in its environment, output collected, killed
// (SIGKILL) past its time limit.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';

/** How a command ended: its exit code (null: killed) and everything it wrote. */
export interface CliRun { code: number | null; stdout: string; stderr: string }

/** Run `portcullis ARGS` in namespace `ns` with `env` added; resolves when it exits (at most `timeoutMs`, then killed). */
export async function runOperatorCli(ns: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<CliRun> {
  const cli = join(repoRoot(), 'dist', 'cluster', 'cli', 'main.js');
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d: Buffer) => { stdout += d; });
  p.stderr!.on('data', (d: Buffer) => { stderr += d; });
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
  clearTimeout(t);
  return { code, stdout, stderr };
}
