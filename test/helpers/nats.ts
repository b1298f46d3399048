// Real nats-server processes for tests (as nats.js does): one JetStream server or a
// 3-node JetStream cluster on free loopback ports, each with its own store directory, or
// one server from a given config text (users, permissions, the file in deploy/). A missing
// binary fails the test with the install command.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freezeProcess } from './freeze.js';
import { freePort } from './ports.js';
import { reap } from './reaper.js';

const CANDIDATES = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** Path of the nats-server binary; throws naming the install command when there is none. */
export function natsServerBinary(): string {
  for (const c of CANDIDATES) if (c !== undefined && c !== '' && existsSync(c)) return c;
  throw new Error('nats-server not found (looked in /usr/sbin, /usr/bin, /usr/local/bin, $NATS_SERVER_BIN): install it with `apt-get install -y nats-server`');
}

/** A free TCP port on 127.0.0.1 (test/helpers/ports.ts: below the ephemeral range). */
export { freePort };

export interface NatsServer {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly monitorPort: number;
  /** Is the process running? */
  running(): boolean;
  /** The process id (null before the first start): to stop and continue it (a frozen server). */
  pid(): number | null;
  /** SIGKILL and wait for exit (a crash, not a graceful shutdown). */
  kill(): Promise<void>;
  /** Start again with the same ports and store (after kill). */
  restart(): Promise<void>;
  /** SIGSTOP, returning once every thread is stopped: the process holds its sockets but answers nothing (a frozen host); `resume()` undoes it. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Output so far (for failure messages). */
  output(): string;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** Client URLs of every server. */
  readonly urls: readonly string[];
  /** Kill every server and remove the store directories. */
  stop(): Promise<void>;
}

interface NodePorts { name: string; port: number; monitorPort: number; clusterPort: number }

function configText(n: NodePorts, storeDir: string, clusterName: string | null, peers: readonly NodePorts[]): string {
  const lines = [
    `server_name: ${n.name}`,
    `listen: 127.0.0.1:${n.port}`,
    `http: 127.0.0.1:${n.monitorPort}`,
    `jetstream { store_dir: "${storeDir}", max_memory_store: 64MB, max_file_store: 256MB }`,
  ];
  if (clusterName !== null) {
    const routes = peers.filter((p) => p.name !== n.name).map((p) => `nats-route://127.0.0.1:${p.clusterPort}`);
    lines.push(`cluster { name: ${clusterName}, listen: 127.0.0.1:${n.clusterPort}, routes: [${routes.join(', ')}] }`);
  }
  return lines.join('\n') + '\n';
}

async function getJson(url: string): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(500) });
    return r.ok ? ((await r.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Servers still running; killed when the test process exits so none is orphaned. */
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const p of live) p.kill('SIGKILL'); });

class ServerProcess implements NatsServer {
  private proc: ChildProcess | null = null;
  private out = '';
  readonly url: string;

  constructor(private readonly bin: string, private readonly ports: NodePorts, private readonly configFile: string, private readonly extraArgs: readonly string[] = [], private readonly env: Record<string, string> = {}) {
    this.url = `nats://127.0.0.1:${ports.port}`;
  }

  get name(): string { return this.ports.name; }
  get port(): number { return this.ports.port; }
  get monitorPort(): number { return this.ports.monitorPort; }

  spawn(): void {
    // reaped too: the exit hook below does not run when this test process is killed
    const p = reap(spawn(this.bin, ['-c', this.configFile, ...this.extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } }));
    p.stdout!.on('data', (c: Buffer) => { this.out += c.toString(); });
    p.stderr!.on('data', (c: Buffer) => { this.out += c.toString(); });
    live.add(p);
    p.once('exit', () => live.delete(p));
    this.proc = p;
  }

  running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Wait until the monitor says healthy (JetStream included). */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running()) throw new Error(`nats-server ${this.name} exited: ${this.out.slice(-2000)}`);
      const h = await getJson(`http://127.0.0.1:${this.monitorPort}/healthz`);
      if (h !== null && h.status === 'ok') return;
      await sleep(50);
    }
    throw new Error(`nats-server ${this.name} not healthy within ${timeoutMs} ms: ${this.out.slice(-2000)}`);
  }

  async kill(): Promise<void> {
    const p = this.proc;
    if (p === null || !this.running()) return;
    await new Promise<void>((resolve) => { p.once('exit', () => resolve()); p.kill('SIGKILL'); });
  }

  pause(): void {
    if (this.running()) freezeProcess(this.proc!.pid!);
  }

  resume(): void {
    if (this.running()) this.proc!.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    this.spawn();
    await this.waitHealthy(15_000);
  }

  output(): string {
    return this.out;
  }
}

/** Start one JetStream-enabled server (on `port` when given, else a free one). */
export async function startNatsServer(opts: { port?: number } = {}): Promise<NatsServer & { stop(): Promise<void> }> {
  const c = await startNats(1, opts.port);
  const s = c.servers[0]!;
  return Object.assign(s, { stop: () => c.stop() });
}

/** Where a config-file server listens and stores, for the config text. */
export interface NatsPlaces { readonly port: number; readonly monitorPort: number; readonly storeDir: string }

/**
 * Start one server from config text (`render` gets the ports and a store directory; `$NAME`
 * variables in it come from `env`). `rewrite` replaces the text; the next `restart()` uses it.
 */
export async function startNatsServerWithConfig(render: (at: NatsPlaces) => string, env: Record<string, string> = {}): Promise<NatsServer & { stop(): Promise<void>; rewrite(render: (at: NatsPlaces) => string): void }> {
  return retryPortRace(() => startNatsServerWithConfigOnce(render, env));
}

async function startNatsServerWithConfigOnce(render: (at: NatsPlaces) => string, env: Record<string, string>): Promise<NatsServer & { stop(): Promise<void>; rewrite(render: (at: NatsPlaces) => string): void }> {
  const bin = natsServerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nats-'));
  const ports: NodePorts = { name: 'c1', port: await freePort(), monitorPort: await freePort(), clusterPort: 0 };
  const at: NatsPlaces = { port: ports.port, monitorPort: ports.monitorPort, storeDir: join(dir, 'store') };
  const file = join(dir, 'nats.conf');
  writeFileSync(file, render(at));
  // command-line flags win over the file's listen and monitor addresses (not over store_dir: render puts `at.storeDir` in)
  const s = new ServerProcess(bin, ports, file, ['-a', '127.0.0.1', '-p', String(at.port), '-m', String(at.monitorPort)], env);
  s.spawn();
  const stop = async (): Promise<void> => { await s.kill(); rmSync(dir, { recursive: true, force: true }); };
  try {
    await s.waitHealthy(20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return Object.assign(s, { stop, rewrite: (next: (a: NatsPlaces) => string) => { writeFileSync(file, next(at)); } });
}

/** Start `n` servers (1 = standalone; ≥ 3 = a JetStream cluster with routes between all) and wait until JetStream has a leader. */
export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  return startNats(n);
}

/**
 * A port from `freePort()` is free when asked and bound by nats-server a moment later; another
 * suite running in parallel can take it in between ("address already in use"). That is a race
 * of the test harness, not of the product: start again on fresh ports (a caller-fixed client
 * port is kept).
 */
async function startNats(n: number, firstPort?: number): Promise<NatsCluster> {
  return retryPortRace(() => startNatsOnce(n, firstPort));
}

async function retryPortRace<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 4 || !/address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startNatsOnce(n: number, firstPort?: number): Promise<NatsCluster> {
  const bin = natsServerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nats-'));
  const clustered = n > 1;
  const ports: NodePorts[] = [];
  for (let i = 0; i < n; i++) ports.push({ name: `n${i + 1}`, port: i === 0 && firstPort !== undefined ? firstPort : await freePort(), monitorPort: await freePort(), clusterPort: await freePort() });
  const servers = ports.map((p) => {
    const file = join(dir, `${p.name}.conf`);
    writeFileSync(file, configText(p, join(dir, `${p.name}-store`), clustered ? 'portcullis-test' : null, ports));
    return new ServerProcess(bin, p, file);
  });
  for (const s of servers) s.spawn();
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(servers.map((s) => s.waitHealthy(20_000)));
    if (clustered) await waitMetaLeader(servers, 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url), stop };
}

async function waitMetaLeader(servers: readonly ServerProcess[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const all = await Promise.all(servers.map((s) => getJson(`http://127.0.0.1:${s.monitorPort}/jsz`)));
    const ok = all.every((j) => {
      const meta = j?.meta_cluster as { leader?: string; cluster_size?: number } | undefined;
      return meta !== undefined && typeof meta.leader === 'string' && meta.leader !== '';
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error('JetStream cluster elected no meta leader in time');
}
