// `portcullis cluster-demo` and its stop signals. SIGTERM while it starts (nats-server up, the
// instances and the demonstration not yet): its nats-server child ends with it — before, the stop
// handlers came only after the demonstration, so the signal's default action ended the CLI and left
// nats-server running, orphaned, with its store in the temp directory (both checked here). A second
// Ctrl-C while its stop waits (a request in flight at instance 3, which stops first): it ends at once.
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

  it('a second Ctrl-C while the stop waits for a request in flight ends it at once: exit 130, nats-server and its store gone', async () => {
    natsServerBinary();
    const p = spawn(process.execPath, [CLI, 'cluster-demo'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    let code: number | null | undefined;
    p.on('exit', (c) => { code = c; });
    try {
      await waitFor('the demo is up', () => out.includes('Ctrl-C stops everything.') || code !== undefined, 40_000, { detail: () => out });
      const nats = natsChildren(p.pid!);
      strays.push(...nats);
      const args = readFileSync(`/proc/${nats[0]}/cmdline`, 'utf8').split('\0');
      const store = args[args.indexOf('-sd') + 1]!;
      const [, proxy3, admin3] = /instance 3: proxy (\S+)\s+admin (\S+)/.exec(out)!;
      const token = /export TOKEN2=(\S+)/.exec(out)![1]!; // TOKEN was revoked by the demonstration
      const adminToken = /Authorization: Bearer ([^"]+)" -H 'content-type/.exec(out)![1]!;
      // the echo upstream never answers /hang: instance 3's drain waits for it (up to drain_ms, 10 s)
      void fetch(`${proxy3}/orders/hang`, { headers: { authorization: `Bearer ${token}` } }).catch(() => {});
      const inflight = async (): Promise<boolean> => {
        const m = await (await fetch(`${admin3}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
        return /^portcullis_inflight_requests(\{[^}]*\})? [1-9]/m.test(m);
      };
      await waitFor('the request in flight at instance 3', inflight, 10_000, { detail: () => out });
      process.kill(-p.pid!, 'SIGINT');
      // instance 3 stops first: /readyz 503 while it drains (its admin API closes after the drain)
      await waitFor('instance 3 draining', async () => (await fetch(`${admin3}/readyz`).catch(() => null))?.status === 503, 10_000, { detail: () => out });
      process.kill(-p.pid!, 'SIGINT');
      await waitFor('the demo to exit', () => code !== undefined, 10_000, { detail: () => out });
      // before: the second Ctrl-C was ignored and the demo sat out the drain, then exited 0
      expect(code, out).toBe(130);
      expect(out).toContain('SIGINT again: stopping at once');
      await waitFor('nats-server gone', () => nats.every((pid) => !alive(pid)), 10_000, { detail: () => `nats-server ${nats.join(',')} still running` });
      expect(existsSync(store), `the demo's JetStream store ${store} was left behind`).toBe(false);
    } finally {
      try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }
  }, 60_000);
});
