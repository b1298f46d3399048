// The multi-host cluster of the harness: network-namespace hosts a, b, c (each one
// nats-server of a 3-node JetStream cluster and one Portcullis with its workers bound to the
// host's address), svc (the demo authorization server and an upstream) and cli (the client
// agent). Starts everything in order, waits until every proxy is ready, and offers the faults
// the scenarios need: cut a link, kill a host, restart a proxy. `close()` (also run on exit,
// SIGINT and SIGTERM) kills every process and removes every namespace and temp file.
// Deployed as operators deploy: the NATS servers run deploy/nats/permissions.conf (no
// anonymous clients), the proxies log in as its `portcullis` user and seal every bus message
// with a bus key generated for this run; `portcullis revoke` can log in as `portcullis-revoke`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../paths.js';
import { killNamespace, Topology } from './netns.js';
import { AgentClient } from './agent-client.js';
import { runOperatorCli, type CliRun } from './operator-cli.js';

export const PROXY_HOSTS = ['a', 'b', 'c'] as const;
export type ProxyHost = typeof PROXY_HOSTS[number];
const OCTETS = { a: 11, b: 12, c: 13, svc: 20, cli: 30 } as const;
const ADMIN_TOKEN = 'hosts-harness-admin';
/** The deployed NATS users and permissions (deploy/nats/permissions.conf). */
const PERMISSIONS_FILE = (): string => join(repoRoot(), 'deploy', 'nats', 'permissions.conf');
const PORTS = { proxy: 8080, admin: 9901, nats: 4222, route: 6222, monitor: 8222, auth: 9000, control: 9001, upstream: 3000 } as const;

/** Harness knobs; every field has a default. */
export interface HostsOptions {
  /** Proxy worker processes per host (default 2). */
  workers?: number;
  /** server.timeouts.drain_ms of every proxy (default 5000 ms). */
  drainMs?: number;
  /** cluster.fail_closed_after_ms (default 10 000 ms): how long a member may serve without a confirmed revocation stream. */
  failClosedAfterMs?: number;
  /** Print every child's output to stderr (default false; PORTCULLIS_HOSTS_VERBOSE=1 turns it on, e.g. for the test). */
  verbose?: boolean;
}

/** dist/ of this checkout (the harness's children always run compiled code). */
const compiledRoot = (): string => join(repoRoot(), 'dist');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The running cluster; see the file header. */
export class HostsCluster {
  readonly proxies = new Map<ProxyHost, ChildProcess>();
  readonly nats = new Map<ProxyHost, ChildProcess>();
  private readonly others: ChildProcess[] = [];
  private closed = false;
  private readonly exitHook = (): void => this.closeSync();
  private readonly signalHook = (sig: NodeJS.Signals): void => { this.closeSync(); process.exit(sig === 'SIGINT' ? 130 : 143); };
  agent!: AgentClient;
  /** `cluster.policy.source` of the proxies started from now on (scenario f switches to `cluster`). */
  policySource: 'file' | 'cluster' = 'file';
  /** Output of every child, newest last (bounded), for failure messages. */
  readonly log: string[] = [];
  /**
   * This run's secrets, in the variables the deployed configs name: the bus key (every proxy and
   * `portcullis revoke`) and the NATS passwords of permissions.conf (values start with a letter:
   * nats-server reads them as config text).
   */
  readonly secrets = {
    PORTCULLIS_BUS_KEY: randomBytes(48).toString('base64'),
    PORTCULLIS_NATS_PASSWORD: `p${randomBytes(24).toString('hex')}`,
    PORTCULLIS_NATS_REVOKE_PASSWORD: `p${randomBytes(24).toString('hex')}`,
  } as const;

  private constructor(readonly topo: Topology, readonly dir: string, readonly opts: Required<HostsOptions>) {
    process.once('exit', this.exitHook);
    process.once('SIGINT', this.signalHook);
    process.once('SIGTERM', this.signalHook);
  }

  /** Build the topology and start everything; on any failure everything is removed again. */
  static async start(options: HostsOptions = {}): Promise<HostsCluster> {
    const opts: Required<HostsOptions> = { workers: 2, drainMs: 5_000, failClosedAfterMs: 10_000, verbose: process.env.PORTCULLIS_HOSTS_VERBOSE === '1', ...options };
    const topo = Topology.create({ ...OCTETS });
    const c = new HostsCluster(topo, mkdtempSync(join(tmpdir(), 'portcullis-hosts-')), opts);
    try {
      c.agent = await AgentClient.start(topo.exec('cli', [process.execPath, join(compiledRoot(), 'bench', 'hosts', 'client-agent.js')]), (s) => c.record('agent', s));
      // the services and the NATS cluster need nothing of each other: side by side
      await Promise.all([c.startServices(), Promise.all(PROXY_HOSTS.map((h) => c.startNats(h))).then(() => c.waitNatsCluster())]);
      await Promise.all(PROXY_HOSTS.map((h) => c.startProxy(h)));
      await Promise.all(PROXY_HOSTS.map((h) => c.waitReady(h)));
    } catch (err) {
      const tail = c.log.slice(-40).join('');
      await c.close();
      throw new Error(`${(err as Error).message}\n--- last output ---\n${tail}`);
    }
    return c;
  }

  addr(h: string): string { return this.topo.host(h).addr; }
  proxyUrl(h: ProxyHost): string { return `http://${this.addr(h)}:${PORTS.proxy}`; }
  adminUrl(h: ProxyHost): string { return `http://${this.addr(h)}:${PORTS.admin}`; }
  get controlUrl(): string { return `http://${this.addr('svc')}:${PORTS.control}`; }
  /** A host's NATS client address. */
  natsAddr(h: ProxyHost): { host: string; port: number } { return { host: this.addr(h), port: PORTS.nats }; }
  get adminToken(): string { return ADMIN_TOKEN; }
  /** The protected route every scenario uses. */
  apiUrl(h: ProxyHost): string { return `${this.proxyUrl(h)}/api/x`; }

  private record(who: string, s: string): void {
    if (this.opts.verbose) process.stderr.write(`[${who}] ${s}`);
    this.log.push(`[${who}] ${s}`);
    if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
  }

  private spawnIn(host: string, who: string, argv: string[], env: Record<string, string> = {}): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.topo.host(host).ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    p.stdout!.on('data', (d: Buffer) => this.record(who, d.toString()));
    p.stderr!.on('data', (d: Buffer) => this.record(who, d.toString()));
    return p;
  }

  private async startServices(): Promise<void> {
    const svc = this.addr('svc');
    const cli = join(compiledRoot(), 'cluster', 'cli', 'main.js');
    this.others.push(this.spawnIn('svc', 'auth', [process.execPath, cli, 'demo-auth', '--listen', `${svc}:${PORTS.auth}`, '--control', `${svc}:${PORTS.control}`]));
    this.others.push(this.spawnIn('svc', 'upstream', [process.execPath, join(compiledRoot(), 'bench', 'cheap-upstream.js'), '--host', svc, '--port', String(PORTS.upstream)]));
    await this.waitHttp(`http://${svc}:${PORTS.auth}/jwks`, 200, 30_000);
    await this.waitHttp(`http://${svc}:${PORTS.upstream}/`, 200, 10_000);
  }

  /** Poll a URL from the client host until it answers `status`. */
  async waitHttp(url: string, status: number, timeoutMs: number, headers: Record<string, string> = {}): Promise<void> {
    const r = await this.agent.call<{ ok: boolean; last?: unknown }>({ cmd: 'waitStatus', url, status, headers, timeoutMs });
    if (!r.ok) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${JSON.stringify(r.last)})`);
  }

  private natsConfig(h: ProxyHost): string {
    const a = this.addr(h);
    const store = join(this.dir, `nats-${h}`);
    mkdirSync(store, { recursive: true });
    const routes = PROXY_HOSTS.filter((x) => x !== h).map((x) => `nats-route://${this.addr(x)}:${PORTS.route}`);
    const file = join(this.dir, `nats-${h}.conf`);
    // includes resolve beside the including file: the deployed file is copied there once (a copy per
    // host truncated it while a starting server read it: that server came up with no accounts)
    if (!existsSync(join(this.dir, 'permissions.conf'))) copyFileSync(PERMISSIONS_FILE(), join(this.dir, 'permissions.conf'));
    writeFileSync(file, [
      `server_name: nats-${h}`,
      `listen: ${a}:${PORTS.nats}`,
      `http: ${a}:${PORTS.monitor}`,
      `jetstream { store_dir: "${store}", max_memory_store: 64MB, max_file_store: 256MB }`,
      `cluster { name: portcullis-hosts, listen: ${a}:${PORTS.route}, routes: [${routes.join(', ')}] }`,
      'include ./permissions.conf',
    ].join('\n') + '\n');
    return file;
  }

  /** Start (or restart) one host's nats-server. */
  async startNats(h: ProxyHost): Promise<void> {
    const bin = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((b) => b !== undefined && b !== '' && existsSync(b));
    if (bin === undefined) throw new Error('nats-server not found: apt-get install -y nats-server');
    const { PORTCULLIS_NATS_PASSWORD, PORTCULLIS_NATS_REVOKE_PASSWORD } = this.secrets;
    this.nats.set(h, this.spawnIn(h, `nats-${h}`, [bin, '-c', this.natsConfig(h)], { PORTCULLIS_NATS_PASSWORD, PORTCULLIS_NATS_REVOKE_PASSWORD }));
    await this.waitHttp(`http://${this.addr(h)}:${PORTS.monitor}/healthz`, 200, 20_000);
  }

  private async waitNatsCluster(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const all = await Promise.all(PROXY_HOSTS.map((h) => this.jsz(h)));
      if (all.every((j) => typeof (j?.meta_cluster as { leader?: string } | undefined)?.leader === 'string' && (j!.meta_cluster as { leader: string }).leader !== '')) return;
      await sleep(200);
    }
    throw new Error('the JetStream cluster elected no meta leader within 30 s');
  }

  /** nats-server monitoring /jsz of one host (null when it does not answer). */
  async jsz(h: ProxyHost, query = ''): Promise<Record<string, unknown> | null> {
    const o = await this.agent.call<{ status: number; body: string }>({ cmd: 'get', url: `http://${this.addr(h)}:${PORTS.monitor}/jsz${query}`, timeoutMs: 1_000 });
    if (o.status !== 200) return null;
    try { return JSON.parse(o.body) as Record<string, unknown>; } catch { return null; }
  }

  /** The host whose nats-server leads the stream named `…suffix` (default the revocation stream; asked of any live host). */
  async streamLeader(suffix = 'REVOCATIONS'): Promise<ProxyHost> {
    for (const h of PROXY_HOSTS) {
      const j = await this.jsz(h, '?accounts=true&streams=true');
      const accounts = (j?.account_details ?? []) as Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }>;
      for (const a of accounts) for (const s of a.stream_detail ?? []) {
        if (s.name.endsWith(suffix) && s.cluster?.leader !== undefined) return s.cluster.leader.replace(/^nats-/, '') as ProxyHost;
      }
    }
    throw new Error(`no host reports a leader for the stream …${suffix}`);
  }

  /** The host whose nats-server leads the JetStream meta group (null when no live host names one). */
  async metaLeader(): Promise<ProxyHost | null> {
    for (const h of PROXY_HOSTS) {
      const leader = ((await this.jsz(h))?.meta_cluster as { leader?: string } | undefined)?.leader;
      if (typeof leader === 'string' && leader !== '') return leader.replace(/^nats-/, '') as ProxyHost;
    }
    return null;
  }

  /**
   * Until the cluster is whole again after a fault: every proxy's /readyz says 200 (each member
   * caught up, none past `fail_closed_after_ms`) and the revocation stream has a leader. A healed
   * partition is followed by JetStream elections (seconds without a stream leader, also for the hosts
   * that kept their quorum), during which members past `fail_closed_after_ms` answer 503 by design; a
   * scenario that measures something else (the rolling restart) starts after them. (A replica's
   * `current` flag is not waited for: nats-c's stayed false for over 60 s after the link came back.)
   * Resolves with the ms waited and what it saw meanwhile.
   */
  async waitSettled(timeoutMs = 60_000): Promise<{ ms: number; waitedFor: string[] }> {
    const t0 = Date.now();
    let last = '';
    const waitedFor = new Set<string>();
    while (Date.now() - t0 < timeoutMs) {
      const ready = await Promise.all(PROXY_HOSTS.map(async (h) => (await this.agent.call<{ status: number }>({ cmd: 'get', url: `${this.adminUrl(h)}/readyz`, timeoutMs: 1_000 })).status === 200));
      const leader = await this.streamLeader().then((l) => (l as string) !== '', () => false);
      if (ready.every(Boolean) && leader) return { ms: Date.now() - t0, waitedFor: [...waitedFor] };
      last = `ready: ${PROXY_HOSTS.filter((_, i) => ready[i]).join(',') || 'none'}${leader ? '' : '; no stream leader'}`;
      waitedFor.add(last);
      await sleep(250);
    }
    throw new Error(`the cluster did not settle within ${timeoutMs} ms (${last})`);
  }

  private proxyConfig(h: ProxyHost): string {
    const a = this.addr(h);
    const svc = this.addr('svc');
    const file = join(this.dir, `portcullis-${h}.yaml`);
    writeFileSync(file, stringify({
      server: { listen: { host: a, port: PORTS.proxy }, timeouts: { drain_ms: this.opts.drainMs } },
      admin: { listen: { host: a, port: PORTS.admin }, token_env: 'PORTCULLIS_ADMIN_TOKEN' },
      issuers: {
        demo: {
          issuer: `http://${svc}:${PORTS.auth}`, audiences: ['portcullis-demo'], algorithms: ['RS256', 'ES256'],
          introspection: { client_id: 'portcullis', client_secret_env: 'PORTCULLIS_INTROSPECTION_SECRET' },
        },
      },
      upstreams: { app: { targets: [`http://${svc}:${PORTS.upstream}`] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
      cluster: {
        // The local node only: the client learns the others from the cluster for failover, and
        // a host's proxy keeps its bus while that host is cut off.
        nats: { servers: [`nats://${a}:${PORTS.nats}`], user: 'portcullis', password_env: 'PORTCULLIS_NATS_PASSWORD', inbox_prefix: '_INBOX_portcullis' },
        auth: { key_env: 'PORTCULLIS_BUS_KEY' },
        fail_closed_after_ms: this.opts.failClosedAfterMs,
        revocation: { replicas: 3 },
        // with `cluster` the policy keys above are ignored: the versions pushed to PORTCULLIS_POLICY count
        policy: { source: this.policySource, state_file: join(this.dir, `policy-state-${h}`) },
      },
      verifier: { pool_size: 1 },
      log: { level: 'info', access: false },
    }));
    return file;
  }

  /** Start one host's proxy (`serve --workers N`) and wait for its "listening" line. */
  async startProxy(h: ProxyHost): Promise<void> {
    const cli = join(compiledRoot(), 'cluster', 'cli', 'main.js');
    const p = this.spawnIn(h, `proxy-${h}`, [process.execPath, cli, 'serve', '--config', this.proxyConfig(h), '--workers', String(this.opts.workers)],
      { PORTCULLIS_ADMIN_TOKEN: ADMIN_TOKEN, PORTCULLIS_INTROSPECTION_SECRET: 'portcullis-secret', PORTCULLIS_BUS_KEY: this.secrets.PORTCULLIS_BUS_KEY, PORTCULLIS_NATS_PASSWORD: this.secrets.PORTCULLIS_NATS_PASSWORD });
    this.proxies.set(h, p);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`proxy ${h} did not listen within 120 s`)), 120_000);
      const on = (d: Buffer): void => { out += d; if (out.includes('"msg":"listening"')) { clearTimeout(t); p.stdout!.off('data', on); resolve(); } };
      p.stdout!.on('data', on);
      p.once('exit', (code) => { clearTimeout(t); reject(new Error(`proxy ${h} exited with ${code} before listening`)); });
    });
  }

  /**
   * `portcullis revoke ARGS` from the client host as an operator runs it: NATS user
   * `portcullis-revoke` (may only publish revocations), this run's bus key, every NATS server.
   */
  async revokeCli(args: string[], timeoutMs = 30_000): Promise<CliRun> {
    const file = join(this.dir, 'revoke.yaml');
    writeFileSync(file, stringify({
      // revoke reads only `cluster` (and `admin` without NATS); a config still needs a route
      upstreams: { none: { targets: ['http://127.0.0.1:9'] } },
      routes: [{ name: 'none', match: { path: '/' }, upstream: 'none', auth: 'none' }],
      cluster: {
        nats: { servers: PROXY_HOSTS.map((x) => `nats://${this.addr(x)}:${PORTS.nats}`), user: 'portcullis-revoke', password_env: 'PORTCULLIS_NATS_REVOKE_PASSWORD', inbox_prefix: '_INBOX_revoke' },
        auth: { key_env: 'PORTCULLIS_BUS_KEY' },
      },
    }));
    return runOperatorCli(this.topo.host('cli').ns, ['revoke', '--config', file, ...args],
      { PORTCULLIS_BUS_KEY: this.secrets.PORTCULLIS_BUS_KEY, PORTCULLIS_NATS_REVOKE_PASSWORD: this.secrets.PORTCULLIS_NATS_REVOKE_PASSWORD }, timeoutMs);
  }

  /**
   * `portcullis policy ARGS` from the client host as an operator runs it with a member's config:
   * NATS user `portcullis` (deploy/nats/permissions.conf lets it use the policy bucket), every
   * NATS server, this run's bus key. `policy`: written to a file and passed as `--policy FILE`.
   */
  async policyCli(args: string[], policy?: unknown, timeoutMs = 30_000): Promise<CliRun> {
    const file = join(this.dir, 'policy-cli.yaml');
    writeFileSync(file, stringify({
      cluster: {
        nats: { servers: PROXY_HOSTS.map((x) => `nats://${this.addr(x)}:${PORTS.nats}`), user: 'portcullis', password_env: 'PORTCULLIS_NATS_PASSWORD', inbox_prefix: '_INBOX_portcullis' },
        auth: { key_env: 'PORTCULLIS_BUS_KEY' },
        policy: { source: 'cluster' },
      },
    }));
    const extra: string[] = [];
    if (policy !== undefined) {
      const pf = join(this.dir, `policy-${Date.now()}.json`);
      writeFileSync(pf, JSON.stringify(policy));
      extra.push('--policy', pf);
    }
    return runOperatorCli(this.topo.host('cli').ns, ['policy', ...args, '--config', file, ...extra],
      { PORTCULLIS_BUS_KEY: this.secrets.PORTCULLIS_BUS_KEY, PORTCULLIS_NATS_PASSWORD: this.secrets.PORTCULLIS_NATS_PASSWORD }, timeoutMs);
  }

  /** The policy the proxies' own files carry, with the `/api/*` route requiring `scopes` (scenario f pushes versions of it). */
  policyDocument(scopes: readonly string[]): Record<string, unknown> {
    const svc = this.addr('svc');
    return {
      issuers: {
        demo: {
          issuer: `http://${svc}:${PORTS.auth}`, audiences: ['portcullis-demo'], algorithms: ['RS256', 'ES256'],
          introspection: { client_id: 'portcullis', client_secret_env: 'PORTCULLIS_INTROSPECTION_SECRET' },
        },
      },
      upstreams: { app: { targets: [`http://${svc}:${PORTS.upstream}`] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: { scopes: { all: [...scopes] } } }],
      verifier: { pool_size: 1 },
    };
  }

  /** Wait until a proxy's /readyz says 200 (keys loaded, revocations replayed). */
  waitReady(h: ProxyHost, timeoutMs = 60_000): Promise<void> {
    return this.waitHttp(`${this.adminUrl(h)}/readyz`, 200, timeoutMs);
  }

  /** SIGTERM a proxy (drain), wait for its exit; resolves with the exit code and the drain time in ms. */
  async stopProxy(h: ProxyHost): Promise<{ code: number | null; ms: number }> {
    const p = this.proxies.get(h)!;
    const start = performance.now();
    if (p.exitCode !== null || p.signalCode !== null) return { code: p.exitCode, ms: 0 };
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    p.kill('SIGTERM');
    const code = await exited;
    return { code, ms: performance.now() - start };
  }

  /** Every process of a host killed at once (a machine dying); the namespace and its link stay. */
  killHost(h: ProxyHost): number {
    return killNamespace(this.topo.host(h).ns).length;
  }

  /** Cut or restore a host's link. */
  link(h: ProxyHost, state: 'up' | 'down'): void {
    this.topo.link(h, state);
  }

  private closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.exitHook);
    process.off('SIGINT', this.signalHook);
    process.off('SIGTERM', this.signalHook);
    for (const p of [...this.proxies.values(), ...this.nats.values(), ...this.others, this.agent?.proc]) {
      if (p !== undefined && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    this.topo.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kill everything and remove the namespaces and temp files (idempotent). */
  async close(): Promise<void> {
    this.closeSync();
    await sleep(50);
  }
}
