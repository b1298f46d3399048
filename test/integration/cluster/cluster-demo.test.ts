// `portcullis cluster-demo` (npm run cluster) against a real nats-server: the revocation at
// instance 1 must be refused at instances 2 and 3; then Ctrl-C, as a terminal sends it (SIGINT to
// the whole process group), stops the instances before nats-server and ends with `stopped`.
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { natsServerBinary } from '../../helpers/nats.js';
import { CLI } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

describe('cluster-demo', () => {
  it('shows a token allowed at three instances, then refused at all three after one revocation; Ctrl-C stops it quietly', async () => {
    natsServerBinary(); // fails with the install command when missing
    // detached: the CLI leads its own process group, as a shell's foreground job does
    const p = spawn(process.execPath, [CLI, 'cluster-demo'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const closed = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    try {
      await waitFor('the demo is up', () => stdout.includes('Ctrl-C stops everything.') || p.exitCode !== null, 40_000, { detail: () => stdout + stderr });
      expect(stdout).toContain('Before: the token at instances 1, 2, 3 → 200, 200, 200');
      expect(stdout).toMatch(/instance 2 refused it \(401\)/);
      expect(stdout).toMatch(/instance 3 refused it \(401\)/);
      expect(stdout).toContain('After: the token at instances 1, 2, 3 → 401, 401, 401');
      const upTo = stdout.length; // the demo's logger writes to stdout
      process.kill(-p.pid!, 'SIGINT'); // Ctrl-C: every process of the foreground group
      expect(await closed).toBe(0);
      // before: nats-server (same group) died first and each instance's last words were a reconnect
      expect(stdout.slice(upTo) + stderr).not.toContain('NATS connection lost');
      expect(stdout.trimEnd().split('\n').pop()).toBe('stopped');
    } finally {
      // nats-server leads its own group: killing the CLI's group alone (a failed test) left it running
      let children: number[] = [];
      try { children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(p.pid)]).toString().trim().split(/\s+/).filter((x) => x !== '').map(Number); } catch { /* none left */ }
      try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* already gone */ }
      for (const pid of children) { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } }
    }
  }, 60_000);
});
