// deploy/compose/compose.yaml: docker-compose (Debian's 1.29, which needs no engine for
// `config`) accepts it, and its cross-references hold: config mounted where --config points,
// every *_env provided, published ports = the config's ports, NATS routes and client URLs
// name the services, the issuer and upstream name the demo services, whose command lines
// start here and serve what the proxies expect. Secrets: init-env.sh writes the .env compose
// reads (admin token included: no default); without one compose refuses to start; every
// published port is on loopback; the NATS servers run the shared permissions
// file (deploy/nats/permissions.conf) as compose mounts it, with the passwords compose gives them.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CLI } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/nats.js';
import { DEPLOY, envNames, NATS_PERMISSIONS, natsEnvRefs, natsUsers, yamlFile } from '../../helpers/deploy-files.js';
import { waitFor } from '../../helpers/wait.js';

const DIR = join(DEPLOY, 'compose');
const COMPOSE = '/usr/bin/docker-compose';

interface Service {
  image?: string; build?: unknown; command?: string[]; environment?: Record<string, string | null>;
  ports?: Array<string | { published: number | string; target: number; host_ip?: string }>; volumes?: Array<string | { source: string; target: string; read_only?: boolean; type: string }>;
  read_only?: boolean; cap_drop?: string[]; security_opt?: string[]; stop_grace_period?: string;
  healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>;
}
interface PortcullisConfig {
  server: { listen: { port: number }; timeouts: { drain_ms: number; shutdown_delay_ms?: number } };
  admin: { listen: { host: string; port: number }; token_env: string; metrics_token_env?: string };
  issuers: Record<string, { issuer: string }>;
  upstreams: Record<string, { targets: string[] }>;
  cluster: { nats: { servers: string[] }; revocation: { replicas: number } };
}

/** init-env.sh run on a copy of itself in a temp folder (never the checkout's .env): the .env it writes. */
function initEnv(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-compose-env-'));
  copyFileSync(join(DIR, 'init-env.sh'), join(dir, 'init-env.sh'));
  const r = spawnSync('sh', [join(dir, 'init-env.sh')], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return join(dir, '.env');
}
/** KEY=value lines of an env file. */
function envFile(file: string): Record<string, string> {
  return Object.fromEntries(readFileSync(file, 'utf8').split('\n').map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]));
}
/** `docker-compose config` with an --env-file: the file as Compose resolves it (anchors, defaults, paths). */
function composeConfig(envFileArg: string): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
  return spawnSync(COMPOSE, ['-p', 'portcullis-demo', '--env-file', envFileArg, '-f', join(DIR, 'compose.yaml'), 'config'], { encoding: 'utf8', env: { PATH: process.env.PATH } }) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string };
}
const ENV_FILE = initEnv();
function resolved(): { services: Record<string, Service> } {
  const r = composeConfig(ENV_FILE);
  expect(r.stderr, 'docker-compose config printed warnings').toBe('');
  expect(r.status).toBe(0);
  return parse(r.stdout) as { services: Record<string, Service> };
}

/** Ports in either form Compose prints ("127.0.0.1:9911:9901/tcp" or {published, target}). */
function ports(s: Service): Array<{ published: string; target: number; host_ip?: string }> {
  return (s.ports ?? []).map((p) => {
    if (typeof p !== 'string') return { published: String(p.published), target: p.target, ...(p.host_ip !== undefined ? { host_ip: p.host_ip } : {}) };
    const parts = p.replace(/\/\w+$/, '').split(':');
    const target = Number(parts.pop());
    const published = parts.pop()!;
    return { published, target, ...(parts.length > 0 ? { host_ip: parts[0]! } : {}) };
  });
}
/** Volumes in either form ("src:target:mode" or {source, target, read_only}). */
function volumes(s: Service): Array<{ source: string; target: string; ro: boolean }> {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, ro: v.read_only === true };
    const [source, target, mode] = v.split(':');
    return { source: source!, target: target!, ro: mode === 'ro' };
  });
}
const seconds = (d: string): number => { const m = /^(\d+)(ms|s|m)$/.exec(d)!; return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1); };
const flag = (cmd: string[], name: string): string => { const i = cmd.indexOf(name); expect(i, `${name} in ${cmd.join(' ')}`).toBeGreaterThan(-1); return cmd[i + 1]!; };

describe('deploy/compose', () => {
  it('docker-compose is installed (Debian package docker-compose)', () => {
    expect(existsSync(COMPOSE), 'docker-compose missing: apt-get install -y docker-compose').toBe(true);
  });

  let cached: { services: Record<string, Service> } | null = null;
  const file = (): { services: Record<string, Service> } => (cached ??= resolved());

  it('docker-compose config accepts it: 3 nats, 3 proxies, auth and echo', () => {
    const names = Object.keys(file().services).sort();
    expect(names).toEqual(['auth', 'echo', 'nats-1', 'nats-2', 'nats-3', 'portcullis-1', 'portcullis-2', 'portcullis-3']);
  });

  it('each proxy mounts the config where --config points, gets every *_env, publishes the config ports', () => {
    const { services } = file();
    const proxies = Object.entries(services).filter(([, s]) => s.command?.[0] === 'serve');
    expect(proxies).toHaveLength(3);
    const seenPorts = new Set<string>();
    for (const [name, s] of proxies) {
      const configPath = flag(s.command!, '--config');
      const mount = volumes(s).find((v) => v.target === configPath);
      expect(mount, `${name}: nothing mounted at ${configPath}`).toBeDefined();
      expect(mount!.ro).toBe(true);
      expect(mount!.source).toBe(join(DIR, 'portcullis.yaml'));
      const config = yamlFile(mount!.source) as unknown as PortcullisConfig;
      for (const env of envNames(config)) expect(s.environment?.[env], `${name}: ${env} not set`).toBeTruthy();
      const targets = ports(s).map((p) => p.target).sort();
      expect(targets).toEqual([config.server.listen.port, config.admin.listen.port].sort());
      const admin = ports(s).find((p) => p.target === config.admin.listen.port)!;
      expect(admin.host_ip, `${name}: admin port published beyond loopback`).toBe('127.0.0.1');
      // the admin token is the one init-env.sh drew, not a default anyone can read in compose.yaml
      expect(s.environment?.PORTCULLIS_ADMIN_TOKEN, `${name}: admin token`).toBe(envFile(ENV_FILE).PORTCULLIS_ADMIN_TOKEN);
      // a read-only scrape token, so a Prometheus pointed at the demo is not handed the admin token (before: none configured)
      expect(config.admin.metrics_token_env, 'admin.metrics_token_env').toBe('PORTCULLIS_METRICS_TOKEN');
      expect(s.environment?.PORTCULLIS_METRICS_TOKEN, `${name}: metrics token`).toBe(envFile(ENV_FILE).PORTCULLIS_METRICS_TOKEN);
      expect(s.environment?.PORTCULLIS_METRICS_TOKEN).not.toBe(s.environment?.PORTCULLIS_ADMIN_TOKEN);
      for (const p of ports(s)) { const k = `${p.host_ip ?? ''}:${p.published}`; expect(seenPorts.has(k), k).toBe(false); seenPorts.add(k); }
      expect(config.admin.listen.host).toBe('0.0.0.0'); // the image HEALTHCHECK and the published port reach it
      // the primary kills a worker still draining shutdown_delay_ms + drain_ms + 2 s after the signal
      expect(seconds(s.stop_grace_period!) * 1000).toBeGreaterThan((config.server.timeouts.shutdown_delay_ms ?? 0) + config.server.timeouts.drain_ms + 2_000);
      expect(s.read_only).toBe(true);
      expect(s.cap_drop).toEqual(['ALL']);
      expect(s.security_opt).toContain('no-new-privileges:true');
      for (const dep of ['nats-1', 'nats-2', 'nats-3', 'auth']) expect(s.depends_on?.[dep]?.condition, `${name} → ${dep}`).toBe('service_healthy');
    }
  });

  it('init-env.sh writes a private .env with a bus key and NATS passwords nats-server can read, and never overwrites it', () => {
    const env = envFile(ENV_FILE);
    expect(Object.keys(env).sort()).toEqual(['PORTCULLIS_ADMIN_TOKEN', 'PORTCULLIS_BUS_KEY', 'PORTCULLIS_METRICS_TOKEN', 'PORTCULLIS_NATS_PASSWORD', 'PORTCULLIS_NATS_REVOKE_PASSWORD']);
    expect(env.PORTCULLIS_METRICS_TOKEN).toMatch(/^[0-9a-f]{48}$/);
    expect(Buffer.byteLength(env.PORTCULLIS_BUS_KEY!)).toBeGreaterThanOrEqual(32);
    expect(env.PORTCULLIS_ADMIN_TOKEN).toMatch(/^[0-9a-f]{48}$/); // 24 random bytes
    // nats-server parses a variable's value as config: "1e5…" or "123…" would not be a string
    for (const k of ['PORTCULLIS_NATS_PASSWORD', 'PORTCULLIS_NATS_REVOKE_PASSWORD']) expect(env[k]).toMatch(/^[a-z][0-9a-f]{40,}$/);
    expect(statSync(ENV_FILE).mode & 0o777).toBe(0o600);
    const again = spawnSync('sh', [join(ENV_FILE, '..', 'init-env.sh')], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/exists: kept/);
    expect(envFile(ENV_FILE)).toEqual(env);
    // secrets stay out of git (and of the build context: .dockerignore lets only listed files in)
    expect(readFileSync(join(DIR, '..', '..', '.gitignore'), 'utf8')).toMatch(/^deploy\/compose\/\.env$/m);
  });

  it('init-env.sh run on a .env of an older version adds only the variables it lacks (the admin and metrics tokens), keeping every value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-compose-env-'));
    copyFileSync(join(DIR, 'init-env.sh'), join(dir, 'init-env.sh'));
    const older = { PORTCULLIS_BUS_KEY: 'b'.repeat(64), PORTCULLIS_NATS_PASSWORD: 'pold1', PORTCULLIS_NATS_REVOKE_PASSWORD: 'pold2' };
    writeFileSync(join(dir, '.env'), Object.entries(older).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
    const r = spawnSync('sh', [join(dir, 'init-env.sh')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/added PORTCULLIS_ADMIN_TOKEN PORTCULLIS_METRICS_TOKEN/);
    const env = envFile(join(dir, '.env'));
    expect(env).toEqual({ ...older, PORTCULLIS_ADMIN_TOKEN: expect.stringMatching(/^[0-9a-f]{48}$/), PORTCULLIS_METRICS_TOKEN: expect.stringMatching(/^[0-9a-f]{48}$/) });
    expect(composeConfig(join(dir, '.env')).status).toBe(0);
  });

  it.each(['PORTCULLIS_ADMIN_TOKEN', 'PORTCULLIS_METRICS_TOKEN'])('%s has no default: a .env without it is refused and init-env.sh named', (name) => {
    const env = envFile(ENV_FILE);
    delete env[name];
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-compose-env-')), 'old.env');
    writeFileSync(file, Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''));
    const r = composeConfig(file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`${name}[\\s\\S]*run deploy/compose/init-env\\.sh first`));
  });

  it('every published port is on loopback: the demo\'s client secrets and admin token are no one else\'s to use', () => {
    const { services } = file();
    const published = Object.entries(services).flatMap(([n, s]) => ports(s).map((p) => ({ n, ...p })));
    expect(published.length).toBeGreaterThanOrEqual(7); // auth, and data + admin per proxy
    for (const p of published) expect(p.host_ip, `${p.n}: port ${p.published} published on every interface`).toBe('127.0.0.1');
  });

  it('without the secrets compose refuses to start and says to run init-env.sh', () => {
    const empty = join(mkdtempSync(join(tmpdir(), 'portcullis-compose-env-')), 'empty.env');
    writeFileSync(empty, '');
    const r = composeConfig(empty);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/run deploy\/compose\/init-env\.sh first/);
  });

  it('NATS: three servers with distinct names, routes to each other, the proxies\' URLs name them, R3 fits', () => {
    const { services } = file();
    const config = yamlFile(join(DIR, 'portcullis.yaml')) as unknown as PortcullisConfig;
    const nats = Object.entries(services).filter(([n]) => n.startsWith('nats-'));
    expect(new Set(nats.map(([, s]) => s.environment?.SERVER_NAME)).size).toBe(3);
    const conf = readFileSync(join(DIR, 'nats.conf'), 'utf8');
    const routes = [...conf.matchAll(/nats-route:\/\/([\w-]+):(\d+)/g)].map((m) => m[1]).sort();
    expect(routes).toEqual(nats.map(([n]) => n).sort());
    expect(conf).toMatch(/cluster \{[\s\S]*listen: 0\.0\.0\.0:6222/);
    expect(conf).toMatch(/server_name: \$SERVER_NAME/);
    expect(config.cluster.nats.servers.map((u) => new URL(u).hostname).sort()).toEqual(nats.map(([n]) => n).sort());
    expect(config.cluster.nats.servers.every((u) => new URL(u).port === '4222')).toBe(true);
    expect(config.cluster.revocation.replicas).toBeLessThanOrEqual(nats.length);
    for (const [n, s] of nats) {
      expect(volumes(s).some((v) => v.target === '/data' && !v.ro), `${n}: no volume at the JetStream store /data`).toBe(true);
      expect(conf).toMatch(/store_dir: \/data/);
    }
  });

  it('NATS: every server mounts the shared permissions file where nats.conf includes it and gets every password it names; nats-server accepts it as mounted', () => {
    const { services } = file();
    const conf = readFileSync(join(DIR, 'nats.conf'), 'utf8');
    const include = /^include\s+(\S+)$/m.exec(conf)?.[1];
    expect(include, 'nats.conf includes no permissions file').toBe('./permissions.conf');
    const permissions = readFileSync(NATS_PERMISSIONS, 'utf8');
    const refs = natsEnvRefs(conf, permissions);
    expect(refs).toEqual(['PORTCULLIS_NATS_PASSWORD', 'PORTCULLIS_NATS_REVOKE_PASSWORD', 'SERVER_NAME']);
    for (const [n, s] of Object.entries(services).filter(([x]) => x.startsWith('nats-'))) {
      const etc = mkdtempSync(join(tmpdir(), 'portcullis-compose-nats-'));
      const confPath = flag(s.command!, '-c');
      // /etc/nats as the container sees it: every mount below the config's folder
      for (const v of volumes(s).filter((x) => x.target.startsWith('/etc/nats/'))) {
        expect(v.ro, `${n}: ${v.target} writable`).toBe(true);
        copyFileSync(v.source, join(etc, v.target.slice('/etc/nats/'.length)));
      }
      expect(volumes(s).find((v) => v.target === '/etc/nats/permissions.conf')?.source, `${n}: permissions.conf`).toBe(NATS_PERMISSIONS);
      for (const r of refs) expect(s.environment?.[r], `${n}: ${r} not set`).toBeTruthy();
      const env = Object.fromEntries(refs.map((r) => [r, String(s.environment![r])]));
      const r = spawnSync('/usr/sbin/nats-server', ['-c', join(etc, confPath.slice('/etc/nats/'.length)), '-t'], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
      expect(r.stderr, n).toMatch(/is valid/);
    }
    // the proxies' password is the one the servers check for the proxies' user
    const config = yamlFile(join(DIR, 'portcullis.yaml')) as unknown as { cluster: { nats: { user: string; password_env: string } } };
    const proxyUser = natsUsers(permissions).find((u) => u.user === config.cluster.nats.user)!;
    expect(config.cluster.nats.password_env).toBe(proxyUser.passwordEnv);
    for (const [n, s] of Object.entries(services).filter(([, x]) => x.command?.[0] === 'serve')) {
      expect(s.environment?.[proxyUser.passwordEnv], n).toBe(services['nats-1']!.environment?.[proxyUser.passwordEnv]);
    }
  });

  describe('the demo services as compose starts them', () => {
    const procs: ChildProcess[] = [];
    afterAll(() => { for (const p of procs) p.kill('SIGTERM'); });

    /** Run a service's command with its --listen port swapped for a free one; resolves with its first JSON line. */
    async function run(cmd: string[]): Promise<{ port: number; line: Record<string, unknown> }> {
      const port = await freePort();
      const argv = cmd.map((a, i) => cmd[i - 1] === '--listen' ? `127.0.0.1:${port}` : a);
      const p = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(p);
      let out = '';
      p.stdout!.on('data', (d: Buffer) => { out += d; });
      p.stderr!.on('data', (d: Buffer) => { out += d; });
      await waitFor("out.includes('\\n') || p.exitCode !== null", () => out.includes('\n') || p.exitCode !== null, 20_000, { detail: () => out });
      return { port, line: JSON.parse(out.split('\n')[0]!) as Record<string, unknown> };
    }

    it('auth: the issuer the proxies trust, with discovery and JWKS; its healthcheck URL answers', async () => {
      const { services } = file();
      const config = yamlFile(join(DIR, 'portcullis.yaml')) as unknown as PortcullisConfig;
      const auth = services.auth!;
      const issuer = Object.values(config.issuers)[0]!.issuer;
      expect(flag(auth.command!, '--public-url')).toBe(issuer);
      expect(new URL(issuer).hostname).toBe('auth');
      const listenPort = Number(flag(auth.command!, '--listen').split(':')[1]);
      expect(String(listenPort)).toBe(new URL(issuer).port);
      expect(ports(auth).map((p) => p.target)).toEqual([listenPort]);
      const { port, line } = await run(auth.command!);
      expect(line.issuer).toBe(issuer);
      const disco = await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json() as { issuer: string; jwks_uri: string };
      expect(disco.issuer).toBe(issuer);
      expect(disco.jwks_uri).toBe(`${issuer}/jwks`);
      const hcUrl = new URL(auth.healthcheck!.test.at(-1)!);
      expect(hcUrl.port).toBe(String(listenPort));
      expect((await fetch(`http://127.0.0.1:${port}${hcUrl.pathname}`)).status).toBe(200);
      // the demo client gets a token the proxies accept (audience)
      const tok = await fetch(`http://127.0.0.1:${port}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('demo-client:demo-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=orders:read' });
      expect(tok.status).toBe(200);
    });

    it('echo: the upstream target of the config; its healthcheck URL answers', async () => {
      const { services } = file();
      const config = yamlFile(join(DIR, 'portcullis.yaml')) as unknown as PortcullisConfig;
      const echo = services.echo!;
      const target = new URL(Object.values(config.upstreams)[0]!.targets[0]!);
      expect(target.hostname).toBe('echo');
      expect(flag(echo.command!, '--listen').split(':')[1]).toBe(target.port);
      const { port } = await run(echo.command!);
      const hcUrl = new URL(echo.healthcheck!.test.at(-1)!);
      expect(hcUrl.port).toBe(target.port);
      expect((await fetch(`http://127.0.0.1:${port}${hcUrl.pathname}`)).status).toBe(200);
    });
  });
});
