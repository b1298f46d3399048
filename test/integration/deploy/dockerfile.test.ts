// deploy/docker/Dockerfile without a container engine: every COPY source exists and is in
// the build context, the runtime stage gets a uWebSockets.js pruned to the one binary this
// Node loads, and the image's ENTRYPOINT + CMD — with /app and /etc/portcullis mapped to temp
// copies — start the proxy as uid 1000 under tini as PID 1 on a read-only root filesystem:
// HEALTHCHECK passes, SIGHUP reloads, SIGTERM drains and exits 0.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/nats.js';
import { DEPLOY, dockerignore, envNames, filesUnder, parseDockerfile, splitFlags, yamlFile, type DockerStage } from '../../helpers/deploy-files.js';
import { waitFor } from '../../helpers/wait.js';

const DOCKERFILE = join(DEPLOY, 'docker', 'Dockerfile');
const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const stage = (name: string): DockerStage => { const s = stages.find((x) => x.name === name); if (s === undefined) throw new Error(`no stage ${name}`); return s; };
const runtime = stages[stages.length - 1]!;
const ops = (s: DockerStage, op: string): string[] => s.instructions.filter((i) => i.op === op).map((i) => i.args);
const jsonArgs = (s: DockerStage, op: string): string[] => { const a = ops(s, op); expect(a, op).toHaveLength(1); return JSON.parse(a[0]!) as string[]; };
const UWS = join(ROOT, 'node_modules', 'uWebSockets.js');
const SRC_NODE_MODULES = join(ROOT, 'node_modules');

/** Top-level packages (`name` or `@scope/name`) `npm ci --omit=dev` installs: the lock's entries not flagged dev. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([p, e]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p) && e.dev !== true)
    .map(([p]) => p.slice('node_modules/'.length))
    .filter((name) => existsSync(join(SRC_NODE_MODULES, name)));
}

function dirBytes(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.size;
  return readdirSync(p).reduce((n, e) => n + dirBytes(join(p, e)), 0);
}

describe('deploy/docker/Dockerfile: structure', () => {
  it('has the build, prod-deps and runtime stages on one Debian 12 Node 20 image', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'runtime']);
    const arg = /NODE_IMAGE=(\S+)/.exec(readFileSync(DOCKERFILE, 'utf8'))?.[1];
    expect(arg).toMatch(/^node:20[.\d]*-bookworm-slim$/);
    for (const s of stages) expect(s.from).toBe('${NODE_IMAGE}');
  });

  it('every COPY from the context exists and is not excluded by .dockerignore', () => {
    const included = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    let checked = 0;
    for (const s of stages) {
      for (const c of ops(s, 'COPY')) {
        const { flags, rest } = splitFlags(c);
        if (flags.from !== undefined) continue;
        const srcs = rest.split(/\s+/).slice(0, -1);
        for (const src of srcs) {
          const p = join(ROOT, src);
          expect(existsSync(p), `COPY ${src}: missing`).toBe(true);
          const files = statSync(p).isDirectory() ? filesUnder(p).map((f) => join(src, f)) : [src];
          const tsFiles = files.filter((f) => !f.includes('/results/'));
          for (const f of tsFiles) expect(included(f), `${f} is excluded by .dockerignore`).toBe(true);
          checked += files.length;
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    // and what must stay out of the context
    for (const f of ['node_modules/jose/package.json', 'dist/cluster/cli/main.js', 'test/helpers/nats.ts', '.git/HEAD', 'bench/results/x.json']) expect(included(f), f).toBe(false);
  });

  it('COPY --from sources are what those stages produce', () => {
    const copies = ops(runtime, 'COPY').map(splitFlags).filter((c) => c.flags.from !== undefined);
    expect(copies.map((c) => `${c.flags.from} ${c.rest}`)).toEqual(['prod-deps /app/node_modules ./node_modules', 'build /src/dist ./dist']);
    expect(ops(stage('prod-deps'), 'WORKDIR')).toEqual(['/app']);
    expect(ops(stage('build'), 'WORKDIR')).toEqual(['/src']);
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } };
    expect(tsconfig.compilerOptions.outDir).toBe('dist');
    expect(ops(stage('build'), 'RUN')).toContain('npm run build');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } };
    expect(pkg.scripts.build).toMatch(/^node build-stamp\.mjs --begin && tsc -p tsconfig\.json && rolldown -c rolldown\.config\.mjs/); // stamp digest first, then the bundled CLI
    expect(existsSync(join(ROOT, 'dist', 'cluster', 'cli', 'main.js'))).toBe(true);
  });

  it('production dependencies only, and uWebSockets.js pruned after the install', () => {
    const runs = ops(stage('prod-deps'), 'RUN');
    const install = runs.findIndex((r) => /npm ci --omit=dev/.test(r));
    const prune = runs.findIndex((r) => r === 'node /tmp/prune-uws.mjs node_modules/uWebSockets.js');
    expect(install).toBeGreaterThanOrEqual(0);
    expect(prune).toBeGreaterThan(install);
    // the runtime stage gets node_modules from nowhere else
    expect(ops(runtime, 'COPY').filter((c) => c.includes('node_modules'))).toHaveLength(1);
    expect(ops(runtime, 'RUN').join(' ')).not.toMatch(/npm (ci|install)/);
  });

  it('runtime: non-root numeric user, tini as PID 1, HEALTHCHECK on the admin /healthz of the deploy configs', () => {
    expect(ops(runtime, 'USER')).toEqual(['1000:1000']);
    expect(ops(runtime, 'RUN').join(' ')).toMatch(/apt-get install -y --no-install-recommends tini/);
    const entry = jsonArgs(runtime, 'ENTRYPOINT');
    expect(entry.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(entry).not.toContain('-g'); // workers must not get SIGHUP directly
    expect(entry.slice(2)).toEqual(['node', '--min-semi-space-size=16', '/app/dist/cluster/cli/main.js']); // the young-generation floor for a workers: 1 process too
    expect(jsonArgs(runtime, 'CMD')).toEqual(['serve', '--config', '/etc/portcullis/portcullis.yaml']);
    const hc = ops(runtime, 'HEALTHCHECK')[0]!;
    const cmd = JSON.parse(/CMD\s+(\[.*\])$/.exec(hc)![1]!) as string[];
    const url = new URL(cmd[cmd.length - 1]!);
    expect(url.pathname).toBe('/healthz');
    for (const f of ['compose/portcullis.yaml', 'kubernetes/base/portcullis.yaml', 'kubernetes/overlays/example/portcullis.yaml']) {
      const c = yamlFile(join(DEPLOY, f)) as { admin: { listen: { port: number } }; server: { listen: { port: number } } };
      expect(Number(url.port), f).toBe(c.admin.listen.port);
      expect(ops(runtime, 'EXPOSE')[0]!.split(/\s+/).map(Number), f).toEqual([c.server.listen.port, c.admin.listen.port]);
    }
    expect(existsSync(join(DEPLOY, 'docker', 'healthcheck.mjs'))).toBe(true);
  });

  it('HEALTHCHECK follows PORTCULLIS_HEALTHCHECK_URL (a config with its admin API elsewhere), as healthcheck.mjs says', async () => {
    const hc = ops(runtime, 'HEALTHCHECK')[0]!;
    const argv = (JSON.parse(/CMD\s+(\[.*\])$/.exec(hc)![1]!) as string[]).map((a) => a.replace('/app/deploy/healthcheck.mjs', join(DEPLOY, 'docker', 'healthcheck.mjs')));
    const seen: string[] = [];
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => { seen.push(req.url ?? ''); res.writeHead(req.url === '/healthz' ? 200 : 503).end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const run = (url: string): Promise<number | null> => new Promise((resolve) => {
        const p = spawn(argv[0] === 'node' ? process.execPath : argv[0]!, argv.slice(1), { env: { ...process.env, PORTCULLIS_HEALTHCHECK_URL: url }, stdio: 'ignore' });
        p.on('exit', (code) => resolve(code));
      });
      expect(await run(`http://127.0.0.1:${port}/healthz`)).toBe(0);
      expect(seen).toEqual(['/healthz']);
      expect(await run(`http://127.0.0.1:${port}/failing`)).toBe(1);
      expect(seen).toEqual(['/healthz', '/failing']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('deploy/docker/prune-uws.mjs', () => {
  let work: string;
  beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'portcullis-uws-')); });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('keeps only the binary this platform and Node ABI load, and the package still loads natively', () => {
    const copy = join(work, 'uWebSockets.js');
    cpSync(UWS, copy, { recursive: true, dereference: true });
    const before = dirBytes(copy);
    const r = spawnSync(process.execPath, [join(DEPLOY, 'docker', 'prune-uws.mjs'), copy], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { bytes_before: number; bytes_after: number; kept: string[] };
    const after = dirBytes(copy);
    console.log(`uWebSockets.js: ${(before / 2 ** 20).toFixed(1)} MiB installed → ${(after / 2 ** 20).toFixed(1)} MiB pruned`);
    expect(report.bytes_before).toBe(before);
    expect(report.bytes_after).toBe(after);
    const binary = `binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
    expect(filesUnder(copy)).toEqual(['LICENSE', binary, 'package.json', 'src/uws.js'].sort());
    expect(after).toBeLessThan(before / 10);
    // native, not the JS fallback (which has no getParts and is gone anyway)
    const load = spawnSync(process.execPath, ['-e', `const u=require(${JSON.stringify(copy)}); process.stdout.write(typeof u.getParts)`], { encoding: 'utf8' });
    expect(load.stdout).toBe('function');
  });

  it('refuses a platform it has no binary for and removes nothing', () => {
    const copy = join(work, 'uws-other');
    cpSync(UWS, copy, { recursive: true, dereference: true, filter: (src) => !src.includes('/binaries/') || src.endsWith('binaries') || src.includes('uws_linux_x64_115') });
    const files = filesUnder(copy).length;
    const r = spawnSync(process.execPath, [join(DEPLOY, 'docker', 'prune-uws.mjs'), copy, '--platform', 'freebsd'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/uws_freebsd_.* not in .*this build does not support freebsd/);
    expect(filesUnder(copy).length).toBe(files);
  });
});

describe('deploy/docker/Dockerfile: the image command line on this machine', () => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-image-'));
  const app = join(root, 'app');
  const etc = join(root, 'etc', 'portcullis');
  let proc: ChildProcess | null = null;
  let out = '';
  let adminPort = 0;
  let port = 0;
  /** A value for every *_env the mounted config names (as compose gives them; the bus key needs 32+ bytes). */
  let secrets: Record<string, string> = {};

  /** /app and /etc/portcullis of the image → the temp tree. */
  const mapPath = (a: string): string => a.replace(/^\/app\//, `${app}/`).replace(/^\/etc\/portcullis\//, `${etc}/`).replace(/^node$/, process.execPath);

  beforeAll(async () => {
    // /app as the runtime stage assembles it: dist, package.json, healthcheck, node_modules
    // (the production packages of this checkout — what `npm ci --omit=dev` installs by the
    // lock file's dev flags — uWebSockets.js pruned as in prod-deps).
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    mkdirSync(join(app, 'deploy'), { recursive: true });
    mkdirSync(etc, { recursive: true });
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    cpSync(join(DEPLOY, 'docker', 'healthcheck.mjs'), join(app, 'deploy', 'healthcheck.mjs'));
    for (const name of productionPackages()) {
      if (name === 'uWebSockets.js') continue;
      mkdirSync(dirname(join(app, 'node_modules', name)), { recursive: true });
      // copied, not linked: the proxy runs as uid 1000 and a checkout may sit under a 0700 directory (mktemp -d)
      cpSync(join(SRC_NODE_MODULES, name), join(app, 'node_modules', name), { recursive: true, dereference: true });
    }
    cpSync(UWS, join(app, 'node_modules', 'uWebSockets.js'), { recursive: true, dereference: true });
    const pr = spawnSync(process.execPath, [join(DEPLOY, 'docker', 'prune-uws.mjs'), join(app, 'node_modules', 'uWebSockets.js')], { encoding: 'utf8' });
    expect(pr.status, pr.stderr).toBe(0);
    // the compose config as mounted, on free ports (other test runs share this machine)
    port = await freePort();
    adminPort = await freePort();
    const config = parse(readFileSync(join(DEPLOY, 'compose', 'portcullis.yaml'), 'utf8')) as { server: { listen: { port: number } }; admin: { listen: { port: number } } };
    config.server.listen.port = port;
    config.admin.listen.port = adminPort;
    writeFileSync(join(etc, 'portcullis.yaml'), stringify(config));
    secrets = Object.fromEntries(envNames(config).map((n) => [n, `p${randomBytes(24).toString('hex')}`]));
    // readable by uid 1000, like files COPY'd into the image and a mounted ConfigMap
    for (const d of [root, join(root, 'etc')]) chmodSync(d, 0o755);
    spawnSync('chmod', ['-R', 'a+rX', root]);
  }, 120_000);

  afterAll(async () => {
    if (proc !== null && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('tini as PID 1 runs the proxy as uid 1000 on a read-only root filesystem; HEALTHCHECK passes', async () => {
    expect(existsSync('/usr/bin/tini'), 'tini missing: apt-get install -y tini').toBe(true);
    const argv = [...jsonArgs(runtime, 'ENTRYPOINT'), ...jsonArgs(runtime, 'CMD')].map(mapPath);
    const [user, group] = ops(runtime, 'USER')[0]!.split(':');
    // A new mount namespace with / remounted read-only (nothing is writable, as with
    // read_only: true and no volumes but the config), a new PID namespace so tini is PID 1.
    const script = 'mount --bind / / && mount -o remount,bind,ro / && exec setpriv --reuid "$U" --regid "$G" --clear-groups "$@"';
    proc = spawn('unshare', ['--mount', '--pid', '--fork', '--propagation', 'private', 'sh', '-c', script, 'sh', ...argv], {
      cwd: app, // WORKDIR /app
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', U: user!, G: group!, NODE_ENV: 'production', ...secrets },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d: Buffer) => { out += d; });
    proc.stderr!.on('data', (d: Buffer) => { out += d; });
    await waitFor('the image\'s command to listen or exit', () => out.includes('"msg":"listening"') || proc!.exitCode !== null, 60_000, { detail: () => out });
    expect(proc.exitCode, out).toBe(null);
    const hc = ops(runtime, 'HEALTHCHECK')[0]!;
    const hcArgv = (JSON.parse(/CMD\s+(\[.*\])$/.exec(hc)![1]!) as string[]).map(mapPath).map((a) => a.replace(':9901/', `:${adminPort}/`));
    const r = spawnSync(hcArgv[0]!, hcArgv.slice(1), { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(out).not.toMatch(/EROFS|read-only file system/i);
    expect(out).not.toMatch(/not compatible with your Node\.js build|fallback/i);
    // uid 1000 and PID 1: the process tree below unshare
    // workers carry node flags before the script (--min-semi-space-size: server.min_semi_space_mb)
    const pids = spawnSync('pgrep', ['-f', `^${process.execPath} (--[^ ]+ )*${app}/dist/cluster/cli/main.js`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    expect(pids.length).toBeGreaterThanOrEqual(3); // primary + 2 workers (server.workers: 2)
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+1000\s/m);
    const tini = spawnSync('pgrep', ['-x', '-P', String(proc.pid), 'tini'], { encoding: 'utf8' }).stdout.trim();
    expect(readFileSync(`/proc/${tini}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
  }, 90_000);

  it('SIGHUP to PID 1 reloads the config in every worker; SIGTERM drains and exits 0', async () => {
    expect(proc).not.toBeNull();
    const tini = Number(spawnSync('pgrep', ['-x', '-P', String(proc!.pid), 'tini'], { encoding: 'utf8' }).stdout.trim());
    // no tini (the image did not start): process.kill(0, …) would signal this test's own process group
    expect(tini, 'tini is not running').toBeGreaterThan(1);
    const before = (out.match(/"msg":"config reloaded"/g) ?? []).length;
    process.kill(tini, 'SIGHUP');
    await waitFor('(out.match(/"msg":"config reloaded"/g) ?? []).length >= before + 2', () => (out.match(/"msg":"config reloaded"/g) ?? []).length >= before + 2, 20_000, { detail: () => out.slice(-3000) });
    expect(proc!.exitCode).toBeNull();
    const exited = new Promise<number | null>((resolve) => proc!.once('exit', (code) => resolve(code)));
    process.kill(tini, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/"msg":"stopped"|shutting down/);
  }, 60_000);

  it('without the devDependencies: bench names the missing autocannon (exit 1), its help still works, log format pretty writes JSON lines', () => {
    for (const dev of ['autocannon', 'pino-pretty']) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    const cli = join(app, 'dist', 'cluster', 'cli', 'main.js');
    const bench = spawnSync(process.execPath, [cli, 'bench', '--quick', 'passthrough'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(bench.status, bench.stderr).toBe(1);
    expect(bench.stderr).toMatch(/bench needs the package "autocannon"/);
    const help = spawnSync(process.execPath, [cli, 'bench', '--help'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('passthrough');
    const script = `const { createLogger } = await import(${JSON.stringify(join(app, 'dist', 'node', 'log.js'))});
      const log = createLogger({ level: 'info', format: 'pretty' });
      log.info({ n: 1 }, 'hello'); log.flush();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: number; n?: number });
    expect(lines.find((l) => l.msg === 'hello')).toMatchObject({ n: 1, level: 30 });
    expect(lines.find((l) => l.level === 40)?.msg).toMatch(/pino-pretty/);
  });
});
