// `portcullis cluster-demo` (npm run cluster) against a real nats-server: the revocation at
// instance 1 must be refused at instances 2 and 3; then Ctrl-C, as a terminal sends it (SIGINT to
// the whole process group), stops the instances before nats-server and ends with `stopped`.
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { natsServerBinary } from '../../helpers/nats.js';
import { CLI } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

/** How long the demo may take to come up on a loaded host, ms (its own bound for the replay is 30 s). */
const UP_MS = 40_000;
/** How long Ctrl-C may take to stop it, ms: a stop part past 10 s is named on its stderr, so a failure shows where it hung. */
const STOP_MS = 30_000;

describe('cluster-demo', () => {
  it('shows a token allowed at three instances, then refused at all three after one revocation; Ctrl-C stops it quietly', async () => {
    natsServerBinary(); // fails with the install command when missing
    // detached: the CLI leads its own process group, as a shell's foreground job does
    const p = spawn(process.execPath, [CLI, 'cluster-demo'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    let closed: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    p.on('close', (code, signal) => { closed = { code, signal }; });
    try {
      await waitFor('the demo is up', () => stdout.includes('Ctrl-C stops everything.') || p.exitCode !== null, UP_MS, { detail: () => stdout + stderr });
      expect(stdout).toContain('Before: the token at instances 1, 2, 3 → 200, 200, 200');
      expect(stdout).toMatch(/instance 2 refused it \(401\)/);
      expect(stdout).toMatch(/instance 3 refused it \(401\)/);
      expect(stdout).toContain('After: the token at instances 1, 2, 3 → 401, 401, 401');
      const upTo = stdout.length; // the demo's logger writes to stdout
      process.kill(-p.pid!, 'SIGINT'); // Ctrl-C: every process of the foreground group
      // a stop that hangs fails here with what the demo said (its slow-stop lines name the part),
      // not as a bare test timeout (a CI run: "Test timed out in 60000ms" and nothing else)
      await waitFor('the demo to exit after Ctrl-C', () => closed !== null, STOP_MS, { detail: () => `stdout after Ctrl-C:\n${stdout.slice(upTo)}\nstderr:\n${stderr}` });
      expect(closed, stderr).toEqual({ code: 0, signal: null });
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
  }, UP_MS + STOP_MS + 5_000);
});
