// A nats-server with JetStream for the cluster scenarios: its own process on free loopback
// ports with a temporary store, ready once its monitor's /healthz says ok (JetStream included).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, type ManagedProcess } from './processes.js';

const CANDIDATES = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** Path of nats-server, or undefined when none is installed (the scenario then says how to get it). */
export function natsServerBin(): string | undefined {
  return CANDIDATES.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
}

/** `nats-server --version`, e.g. "2.9.10"; "unknown" when it cannot tell. */
export function natsServerVersion(bin: string): string {
  try {
    return /v?(\d+\.\d+\.\d+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface NatsProcess {
  /** nats://127.0.0.1:<port> */
  url: string;
  version: string;
  process: ManagedProcess;
  /** Stop the server and remove its store. */
  stop(): Promise<void>;
}

/** Start `nats-server -js` (no pinning: it serves every member). Throws naming the install command when the binary is missing. */
export async function startNatsProcess(cpus?: readonly number[]): Promise<NatsProcess> {
  const bin = natsServerBin();
  if (bin === undefined) throw new Error('nats-server not found (looked in /usr/sbin, /usr/bin, /usr/local/bin, $NATS_SERVER_BIN): install it with `apt-get install -y nats-server`');
  const [port, monitor] = [await freePort(), await freePort()];
  const store = mkdtempSync(join(tmpdir(), 'portcullis-bench-nats-'));
  let proc: ManagedProcess;
  try {
    ({ process: proc } = await startProcess({
      name: 'nats-server', command: bin, args: ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '-sd', store],
      ...(cpus !== undefined ? { cpus } : {}),
    }));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${monitor}/healthz`, { signal: AbortSignal.timeout(500) }).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) { await proc.stop(); throw new Error(`nats-server not healthy within 15 s:\n${proc.output()}`); }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    rmSync(store, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`, version: natsServerVersion(bin), process: proc,
    async stop() {
      await proc.stop();
      rmSync(store, { recursive: true, force: true });
    },
  };
}

/**
 * Start an `n`-node nats-server cluster with JetStream (each its own process and store on free
 * loopback ports); resolves once every node is healthy and sees a JetStream meta leader.
 */
export async function startNatsClusterProcesses(n = 3): Promise<{ urls: string[]; version: string; processes: ManagedProcess[]; stop(): Promise<void> }> {
  const bin = natsServerBin();
  if (bin === undefined) throw new Error('nats-server not found (looked in /usr/sbin, /usr/bin, /usr/local/bin, $NATS_SERVER_BIN): install it with `apt-get install -y nats-server`');
  const nodes: Array<{ name: string; port: number; monitor: number; cluster: number }> = [];
  for (let i = 0; i < n; i++) nodes.push({ name: `bench-n${i + 1}`, port: await freePort(), monitor: await freePort(), cluster: await freePort() });
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-natsc-'));
  const started: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const routes = nodes.map((x) => `nats://127.0.0.1:${x.cluster}`).join(',');
    for (const x of nodes) {
      const { process: proc } = await startProcess({
        name: x.name, command: bin,
        args: ['-js', '-a', '127.0.0.1', '-p', String(x.port), '-m', String(x.monitor), '-sd', join(dir, x.name), '--server_name', x.name,
          '--cluster_name', 'portcullis-bench', '--cluster', `nats://127.0.0.1:${x.cluster}`, '--routes', routes],
      });
      started.push(proc);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const leaders = await Promise.all(nodes.map((x) => fetch(`http://127.0.0.1:${x.monitor}/jsz`, { signal: AbortSignal.timeout(500) })
        .then(async (r) => ((await r.json()) as { meta_cluster?: { leader?: string } }).meta_cluster?.leader ?? '', () => '')));
      if (leaders.every((l) => l !== '')) break;
      if (Date.now() > deadline) throw new Error(`nats-server cluster elected no JetStream meta leader within 30 s:\n${started.map((p) => p.output().slice(-800)).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls: nodes.map((x) => `nats://127.0.0.1:${x.port}`), version: natsServerVersion(bin), processes: started, stop };
}
