// `portcullis cluster-demo` stopped by SIGTERM while it starts (nats-server up, the instances and
// the demonstration not yet): its nats-server child ends with it. Before, the stop handlers came
// only after the demonstration, so the signal's default action ended the CLI and left nats-server
// running, orphaned, with its store in the temp directory (both checked here).
import { describe, expect, it, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { natsServerBinary } from '../../helpers/nats.js';
import { CLI } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

const strays: number[] = [];
afterAll(() => { for (const pid of strays) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } });

/** Pids whose parent is `ppid` and whose command line names nats-server (Linux /proc). */
function natsChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === ppid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('nats-server')) out.push(Number(d));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** Running: it exists and is not a zombie (a killed child the exited CLI left to be reaped by pid 1 is not running). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
};

describe('cluster-demo and signals', () => {
  it('SIGTERM while starting: the CLI exits and its nats-server child is gone too', async () => {
    natsServerBinary(); // fails with the install command when missing
    const p = spawn(process.execPath, [CLI, 'cluster-demo', '--exit'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    let nats: number[] = [];
    await waitFor('(nats = natsChildren(p.pid!)).length > 0', () => (nats = natsChildren(p.pid!)).length > 0, 30_000, { detail: () => `no nats-server child appeared:\n${out}` });
    strays.push(...nats);
    const args = readFileSync(`/proc/${nats[0]}/cmdline`, 'utf8').split('\0');
    const store = args[args.indexOf('-sd') + 1]!;
    p.kill('SIGTERM');
    const code = await exited;
    expect(out).not.toContain('After:'); // stopped before the demonstration ended: this is the start-up window
    // 143 = its handler ran (stopped nats-server, then exited 128+15); null = SIGTERM's default action
    // ended it before a handler was installed, leaving nats-server running
    expect(code, out).toBe(143);
    await waitFor('nats.every((pid) => !alive(pid))', () => nats.every((pid) => !alive(pid)), 10_000, { detail: () => `nats-server ${nats.join(',')} still running after the CLI exited` });
    expect(existsSync(store), `the demo's JetStream store ${store} was left behind`).toBe(false);
  }, 60_000);
});
