// The systemd units under deploy/systemd: `systemd-analyze verify` accepts them with no
// warning (ExecStart paths mapped to this checkout, a documented temporary install prefix),
// the sandbox directives and memory bounds are there, and the environment file provides every
// *_env; nats-server runs the node config with the shared permissions file and the passwords its
// own environment file names, the proxies' one holding the same variable. Both environment
// files as shipped (empty values) make their unit refuse the start.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../../helpers/proxy-process.js';
import { DEPLOY, envNames, NATS_PERMISSIONS, natsEnvRefs, natsUsers, yamlFile } from '../../helpers/deploy-files.js';

const SYSTEMD = join(DEPLOY, 'systemd');
const ANALYZE = '/usr/bin/systemd-analyze';

/** `Key=value` lines of a unit (repeated keys kept in order). */
function directives(text: string): Array<[string, string]> {
  return text.split('\n').map((l) => /^([A-Za-z]+)=(.*)$/.exec(l.trim())).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]);
}
const get = (d: Array<[string, string]>, k: string): string[] => d.filter(([x]) => x === k).map(([, v]) => v);
/** A systemd size (`4G`, `512M`, bytes) in bytes; NaN for anything else (`infinity`, a percentage). */
const bytes = (v: string): number => { const m = /^(\d+)([KMGT]?)$/.exec(v); return m === null ? NaN : Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2] || ' '); };
/** KEY=value lines of an environment file. */
const envFile = (file: string): Record<string, string> => Object.fromEntries(readFileSync(file, 'utf8').split('\n').map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]));

/** A unit's Exec* command line as argv, with /opt/portcullis → this checkout, /usr/bin/node → this Node and /etc/portcullis/portcullis.yaml → deploy/systemd's. */
function command(line: string): string[] {
  return line.replaceAll('/opt/portcullis', ROOT).replaceAll('/usr/bin/node', process.execPath)
    .replaceAll('/etc/portcullis/portcullis.yaml', join(SYSTEMD, 'portcullis.yaml')).split(/\s+/);
}
/** nats-server -t on the node config laid out as the install steps do (/etc/nats with permissions.conf beside it), with `env` only. */
function natsTest(env: Record<string, string>): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-units-'));
  copyFileSync(join(SYSTEMD, 'nats-server.conf'), join(dir, 'nats-server.conf'));
  copyFileSync(NATS_PERMISSIONS, join(dir, 'permissions.conf'));
  return spawnSync('/usr/sbin/nats-server', ['-c', join(dir, 'nats-server.conf'), '-t'], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } }) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string };
}
/** An Exec* line of the form `/bin/sh -c '…'` as argv, systemd's `$$` read as the literal `$` it stands for. */
function shellCommand(line: string): string[] {
  const m = /^(\S+) -c '([^']*)'$/.exec(line);
  if (m === null) throw new Error(`not a /bin/sh -c '…' line: ${line}`);
  return [m[1]!, '-c', m[2]!.replaceAll('$$', '$')];
}
/** A NATS password of the documented shape (p$(openssl rand -hex 24)): nats-server reads it as a string. */
const natsPassword = (): string => `p${randomBytes(24).toString('hex')}`;

/** The unit with /opt/portcullis → this checkout and /usr/bin/node → this Node (the install prefix of the test). */
function installed(unit: string, dir: string): string {
  const text = readFileSync(join(SYSTEMD, unit), 'utf8').replaceAll('/opt/portcullis', ROOT).replaceAll('/usr/bin/node', process.execPath);
  const file = join(dir, unit);
  writeFileSync(file, text);
  return file;
}

describe('deploy/systemd', () => {
  it('systemd-analyze is installed (Debian package systemd)', () => {
    expect(existsSync(ANALYZE), 'systemd-analyze missing: apt-get install -y systemd').toBe(true);
  });

  it.each(['portcullis.service', 'nats-server.service', 'portcullis@.service'])('systemd-analyze verify accepts %s without a warning', (unit) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-units-'));
    const file = installed(unit, dir);
    // a template is verified as an instance of it (systemd reads portcullis@.service for portcullis@edge.service)
    const r = spawnSync(ANALYZE, ['verify', '--man=no', file.replace('@.service', '@edge.service')], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
    // verify does not insist that ExecStart binaries exist here (no systemd as PID 1): check them.
    for (const [k, v] of directives(readFileSync(file, 'utf8'))) {
      if (!/^Exec(Start|StartPre|Reload)$/.test(k)) continue;
      const argv = v.split(/\s+/);
      expect(existsSync(argv[0]!), `${unit} ${k}: ${argv[0]} does not exist`).toBe(true);
      for (const a of argv.slice(1)) if (a.startsWith(ROOT)) expect(existsSync(a), `${unit} ${k}: ${a} does not exist (build first)`).toBe(true);
    }
  });

  it.each(['portcullis.service', 'portcullis@.service'])('%s with a typo is reported (the check above can fail)', (unit) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-units-'));
    const file = installed(unit, dir);
    writeFileSync(file, readFileSync(file, 'utf8').replace('Restart=on-failure', 'Restart=on-fialure'));
    const r = spawnSync(ANALYZE, ['verify', '--man=no', file.replace('@.service', '@edge.service')], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/restart specifier/i);
  });

  // Two instances on one host (an edge one and an internal one, one per tenant): before, only portcullis.service,
  // whose config, environment file and /run/portcullis every copy of it would share.
  it('portcullis@.service: each instance its own config, environment file, runtime and state folder; the single unit\'s sandbox', () => {
    const single = directives(readFileSync(join(SYSTEMD, 'portcullis.service'), 'utf8'));
    const t = directives(readFileSync(join(SYSTEMD, 'portcullis@.service'), 'utf8'));
    const one = (k: string): string => { const v = get(t, k); expect(v, k).toHaveLength(1); return v[0]!; };
    expect(one('EnvironmentFile')).toBe('/etc/portcullis/%i.env');
    expect(one('ExecStartPre')).toBe(get(single, 'ExecStartPre')[0]!.replace('/etc/portcullis/portcullis.yaml', '/etc/portcullis/%i.yaml'));
    expect(one('ExecStart')).toBe(get(single, 'ExecStart')[0]!.replace('/etc/portcullis/portcullis.yaml', '/etc/portcullis/%i.yaml'));
    expect(one('RuntimeDirectory')).toBe('portcullis/%i');
    expect(one('StateDirectory')).toBe('portcullis/%i');
    expect(one('Description')).toContain('%i');
    // everything else as the single unit: sandbox, user, limits, stop and restart rules, Documentation=
    const own = new Set(['Description', 'EnvironmentFile', 'ExecStartPre', 'ExecStart', 'RuntimeDirectory', 'StateDirectory', 'StateDirectoryMode']);
    expect(t.filter(([k]) => !own.has(k))).toEqual(single.filter(([k]) => !own.has(k)));
  });

  it('portcullis@.service: the instances deploy/README.md sets up pass the unit\'s check-config with their own files', () => {
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Several instances on one host'));
    const steps = section.split('```sh')[1]!.split('```')[0]!.split('\n');
    const configs = steps.map((l) => /^sudo cp deploy\/systemd\/portcullis\.yaml \/etc\/portcullis\/([a-z0-9-]+)\.yaml\b/.exec(l)?.[1]).filter((x) => x !== undefined);
    const envs = steps.map((l) => /^sudo install -m 0600 deploy\/systemd\/portcullis\.env\.example \/etc\/portcullis\/([a-z0-9-]+)\.env\b/.exec(l)?.[1]).filter((x) => x !== undefined);
    const started = /^sudo systemctl enable --now (.+)$/m.exec(steps.join('\n'))?.[1]?.split(/\s+/) ?? [];
    expect(configs.length, 'no instance config in the README steps').toBeGreaterThanOrEqual(2);
    expect(envs).toEqual(configs);
    expect(started).toEqual(configs.map((i) => `portcullis@${i}`));
    expect(steps.some((l) => l.startsWith('sudo cp deploy/systemd/portcullis@.service /etc/systemd/system/'))).toBe(true);
    // each instance as the steps leave it (then edited: its own ports), checked by the template's ExecStartPre with %i filled in
    const pre = get(directives(readFileSync(join(SYSTEMD, 'portcullis@.service'), 'utf8')), 'ExecStartPre')[0]!;
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-instances-'));
    const filled = Object.fromEntries(Object.keys(envFile(join(SYSTEMD, 'portcullis.env.example'))).map((k) => [k, randomBytes(48).toString('base64')]));
    for (const instance of configs) {
      copyFileSync(join(SYSTEMD, 'portcullis.yaml'), join(dir, `${instance}.yaml`));
      const argv = pre.replaceAll('%i', instance).replaceAll('/opt/portcullis', ROOT).replaceAll('/usr/bin/node', process.execPath).replaceAll('/etc/portcullis', dir).split(/\s+/);
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH, ...filled } });
      expect([r.status, r.stderr], `${instance}: ${r.stdout}`).toEqual([0, '']);
      expect(r.stdout).toContain(`ok: ${join(dir, `${instance}.yaml`)}`);
    }
  });

  it('portcullis.service: sandboxed, SIGHUP reload, drain-long stop timeout, no restart on a bad config', () => {
    const d = directives(readFileSync(join(SYSTEMD, 'portcullis.service'), 'utf8'));
    const one = (k: string): string => { const v = get(d, k); expect(v, k).toHaveLength(1); return v[0]!; };
    expect(one('DynamicUser')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('2');
    expect(one('KillMode')).toBe('mixed');
    const config = yamlFile(join(SYSTEMD, 'portcullis.yaml')) as { server: { timeouts: { drain_ms: number; shutdown_delay_ms?: number } } };
    const stopMs = (config.server.timeouts.shutdown_delay_ms ?? 0) + config.server.timeouts.drain_ms + 2_000;
    expect(Number(one('TimeoutStopSec')) * 1000).toBeGreaterThan(stopMs);
    expect(one('ExecStart')).toContain('--config /etc/portcullis/portcullis.yaml');
    // the young-generation floor for the process itself too (a workers: 1 process is not forked), the field's default, as a node flag
    expect(one('ExecStart')).toMatch(/^\/usr\/bin\/node --min-semi-space-size=16 \/opt\/portcullis\/dist\/cluster\/cli\/main\.js serve /);
    expect(get(d, 'MemoryDenyWriteExecute')).toEqual([]); // V8's JIT needs W+X pages
    // a memory bound the sizing guide's defaults fit: 12 workers of ~100 MiB + 80 MiB token cache + 37 MiB DPoP cache, and the primary
    expect(bytes(one('MemoryMax')), 'MemoryMax').toBeGreaterThanOrEqual((12 * (100 + 80 + 37) + 100) * 2 ** 20);
    expect(one('OOMPolicy')).toBe('continue'); // a worker killed at the bound is the supervisor's to replace
  });

  it('portcullis.service: the unit may create the decision socket deploy/edge/ ships (nginx on the same host)', () => {
    // ProtectSystem=strict leaves /run read-only to the unit: before, no RuntimeDirectory, so serve with
    // portcullis-decision.yaml stopped with "cannot listen on /run/portcullis/decision.sock" at every restart
    const d = directives(readFileSync(join(SYSTEMD, 'portcullis.service'), 'utf8'));
    const edge = yamlFile(join(DEPLOY, 'edge', 'portcullis-decision.yaml')) as { server: { decision: { unix_socket: { path: string } } } };
    const socket = edge.server.decision.unix_socket.path;
    expect(readFileSync(join(DEPLOY, 'edge', 'nginx.conf'), 'utf8')).toContain(`server unix:${socket};`);
    expect(get(d, 'RuntimeDirectory').map((v) => `/run/${v}`)).toContain(dirname(socket));
    // nginx's worker (www-data) must reach the socket inside it: the folder is searchable, the socket's mode decides
    expect(get(d, 'RuntimeDirectoryMode')).toEqual(['0755']);
    // the name deploy/README.md has the operator create as a static user, whose group nginx joins
    expect([get(d, 'User'), get(d, 'DynamicUser')]).toEqual([['portcullis'], ['yes']]);
    expect(readFileSync(join(DEPLOY, 'README.md'), 'utf8')).toContain('useradd --system --no-create-home --shell\n  /usr/sbin/nologin portcullis && sudo usermod -aG portcullis www-data');
  });

  it('portcullis.service: every Documentation= file is one the documented install steps put there', () => {
    // the ```sh block of deploy/README.md's systemd section: `cp -r … /opt/portcullis/` and `install -D … SRC DEST`
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
    const steps = readme.slice(readme.indexOf('## systemd')).split('```sh')[1]!.split('```')[0]!.split('\n');
    const installed = new Map<string, string>(); // path under /opt/portcullis → source in the checkout
    for (const l of steps) {
      const cp = /^sudo cp -r (.+) \/opt\/portcullis\/\s*(#.*)?$/.exec(l);
      if (cp !== null) for (const src of cp[1]!.split(/\s+/)) installed.set(src, src);
      const inst = /^sudo install -D -m \d+ (\S+) \/opt\/portcullis\/(\S+)/.exec(l);
      if (inst !== null) installed.set(inst[2]!, inst[1]!);
    }
    const d = directives(readFileSync(join(SYSTEMD, 'portcullis.service'), 'utf8'));
    const docs = get(d, 'Documentation').flatMap((v) => v.split(/\s+/));
    expect(docs.length).toBeGreaterThan(0);
    for (const uri of docs) {
      const m = /^file:\/opt\/portcullis\/(.+)$/.exec(uri);
      expect(m, `${uri}: not a file under /opt/portcullis`).not.toBeNull();
      const src = installed.get(m![1]!);
      expect(src, `${uri}: the install steps in deploy/README.md do not put it there`).toBeDefined();
      expect(existsSync(join(ROOT, src!)), `${src} missing in the checkout`).toBe(true);
    }
  });

  it('nats-server.service: sandboxed, JetStream store in its StateDirectory', () => {
    const d = directives(readFileSync(join(SYSTEMD, 'nats-server.service'), 'utf8'));
    expect(get(d, 'ProtectSystem')).toEqual(['strict']);
    expect(get(d, 'NoNewPrivileges')).toEqual(['yes']);
    expect(get(d, 'StateDirectory')).toEqual(['nats']);
    // a memory bound above the JetStream memory store the config allows
    const store = /max_memory_store: (\d+)MB/.exec(readFileSync(join(SYSTEMD, 'nats-server.conf'), 'utf8'));
    expect(store, 'nats-server.conf: max_memory_store').not.toBeNull();
    expect(get(d, 'MemoryMax'), 'MemoryMax').toHaveLength(1);
    expect(bytes(get(d, 'MemoryMax')[0]!)).toBeGreaterThan(2 * Number(store![1]) * 1e6);
    expect(get(d, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(readFileSync(join(SYSTEMD, 'nats-server.conf'), 'utf8')).toMatch(/store_dir: \/var\/lib\/nats/);
  });

  it('the environment file names every *_env of the config', () => {
    const env = Object.keys(envFile(join(SYSTEMD, 'portcullis.env.example')));
    expect(env.sort()).toEqual(envNames(yamlFile(join(SYSTEMD, 'portcullis.yaml'))));
  });

  // deploy/monitoring's static job ("hosts (systemd, compose)") scrapes 127.0.0.1:9901 with the read-only
  // metrics token: a systemd host must name one, or Prometheus gets 401 — or is handed the admin token.
  it('the host scrape job reaches a systemd host with the metrics token (admin.metrics_token_env, the job\'s port)', () => {
    const config = yamlFile(join(SYSTEMD, 'portcullis.yaml')) as { admin: { listen: { port: number }; metrics_token_env?: string; token_env: string } };
    expect(config.admin.metrics_token_env, 'portcullis.yaml: no admin.metrics_token_env for Prometheus').toBe('PORTCULLIS_METRICS_TOKEN');
    expect(config.admin.metrics_token_env).not.toBe(config.admin.token_env);
    const jobs = (yamlFile(join(DEPLOY, 'monitoring', 'prometheus', 'scrape-configs.yaml')) as { scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> }> }).scrape_configs;
    const targets = jobs.flatMap((j) => j.static_configs ?? []).flatMap((s) => s.targets);
    expect(targets.map((t) => Number(t.split(':').at(-1)))).toContain(config.admin.listen.port);
  });

  it('nats-server accepts the node config with the shared permissions file beside it and the passwords its environment file names (nats-server -t)', () => {
    const conf = readFileSync(join(SYSTEMD, 'nats-server.conf'), 'utf8');
    expect(/^include\s+(\S+)$/m.exec(conf)?.[1], 'nats-server.conf includes no permissions file').toBe('./permissions.conf');
    const unit = directives(readFileSync(join(SYSTEMD, 'nats-server.service'), 'utf8'));
    expect(get(unit, 'EnvironmentFile')).toEqual(['/etc/nats/nats.env']);
    const permissions = readFileSync(NATS_PERMISSIONS, 'utf8');
    const natsEnv = envFile(join(SYSTEMD, 'nats.env.example'));
    expect(Object.keys(natsEnv).sort()).toEqual(natsEnvRefs(conf, permissions));
    // the proxies log in with the variable the servers check for the proxies' user
    const nats = (yamlFile(join(SYSTEMD, 'portcullis.yaml')) as { cluster: { nats: { user: string; password_env: string } } }).cluster.nats;
    const proxyUser = natsUsers(permissions).find((u) => u.user === nats.user)!;
    expect(nats.password_env).toBe(proxyUser.passwordEnv);
    expect(Object.keys(natsEnv)).toContain(proxyUser.passwordEnv);
    // filled in as the file says, nats-server accepts it
    const r = natsTest(Object.fromEntries(Object.keys(natsEnv).map((k) => [k, natsPassword()])));
    expect(r.stderr).toMatch(/configuration file .* is valid/);
    expect(r.status).toBe(0);
  });

  // The install steps copy the examples to /etc and say "then edit": a host where that step was
  // skipped must refuse to start, not run with an admin token, bus key and NATS passwords that
  // anyone can read in this repository.
  it('portcullis.env.example as shipped: the unit\'s ExecStartPre (check-config) refuses the start, naming every unfilled secret (exit 2 = no restart loop)', () => {
    const unit = directives(readFileSync(join(SYSTEMD, 'portcullis.service'), 'utf8'));
    const pre = command(get(unit, 'ExecStartPre')[0]!);
    const shipped = envFile(join(SYSTEMD, 'portcullis.env.example'));
    const r = spawnSync(pre[0]!, pre.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH, ...shipped } });
    for (const name of Object.keys(shipped)) expect(r.stderr, r.stdout).toMatch(new RegExp(`environment variable ${name} is (empty|not set)`));
    expect(r.status).toBe(2);
    expect(get(unit, 'RestartPreventExitStatus')).toEqual(['2']);
    // filled in, the same command passes
    const filled = Object.fromEntries(Object.keys(shipped).map((k) => [k, randomBytes(48).toString('base64')]));
    const ok = spawnSync(pre[0]!, pre.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH, ...filled } });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
  });

  it('nats.env.example as shipped: the unit refuses to start (nats-server itself would take an empty password and let anyone in with one)', () => {
    const shipped = envFile(join(SYSTEMD, 'nats.env.example'));
    expect(Object.values(shipped).every((v) => v === '')).toBe(true);
    // why the unit must refuse: nats-server accepts the config with the passwords empty
    expect(natsTest(shipped).status).toBe(0);
    const unit = directives(readFileSync(join(SYSTEMD, 'nats-server.service'), 'utf8'));
    const guards = get(unit, 'ExecStartPre').map(shellCommand);
    expect(guards.length, 'nats-server.service: no ExecStartPre checks the passwords').toBeGreaterThan(0);
    const run = (env: Record<string, string>): { status: number | null; stderr: string } => {
      let stderr = '';
      for (const argv of guards) {
        const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
        stderr += r.stderr;
        if (r.status !== 0) return { status: r.status, stderr };
      }
      return { status: 0, stderr };
    };
    expect(run(shipped).status).not.toBe(0);
    const filled = Object.fromEntries(Object.keys(shipped).map((k) => [k, natsPassword()]));
    expect(run(filled)).toEqual({ status: 0, stderr: '' });
    // each password nats-server checks is guarded: empty or missing, the start is refused naming it
    for (const name of natsEnvRefs(readFileSync(join(SYSTEMD, 'nats-server.conf'), 'utf8'), readFileSync(NATS_PERMISSIONS, 'utf8'))) {
      for (const env of [{ ...filled, [name]: '' }, Object.fromEntries(Object.entries(filled).filter(([k]) => k !== name))]) {
        const r = run(env);
        expect(r.status, `${name} empty or missing`).not.toBe(0);
        expect(r.stderr).toContain(`${name} is empty or not set`);
      }
    }
  });
});
