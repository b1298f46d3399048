// The systemd units under deploy/systemd: `systemd-analyze verify` accepts them with no
// warning (ExecStart paths mapped to this checkout, a documented temporary install prefix),
// the sandbox directives are there, and the environment file provides every *_env; nats-server
// runs the node config with the shared permissions file and the passwords of its own
// environment file, the proxies' one holding the same variable.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../helpers/proxy-process.js';
import { DEPLOY, envNames, NATS_PERMISSIONS, natsEnvRefs, natsUsers, yamlFile } from '../../helpers/deploy-files.js';

const SYSTEMD = join(DEPLOY, 'systemd');
const ANALYZE = '/usr/bin/systemd-analyze';

/** `Key=value` lines of a unit (repeated keys kept in order). */
function directives(text: string): Array<[string, string]> {
  return text.split('\n').map((l) => /^([A-Za-z]+)=(.*)$/.exec(l.trim())).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]);
}
const get = (d: Array<[string, string]>, k: string): string[] => d.filter(([x]) => x === k).map(([, v]) => v);
/** KEY=value lines of an environment file. */
const envFile = (file: string): Record<string, string> => Object.fromEntries(readFileSync(file, 'utf8').split('\n').map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]));

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

  it.each(['portcullis.service', 'nats-server.service'])('systemd-analyze verify accepts %s without a warning', (unit) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-units-'));
    const file = installed(unit, dir);
    const r = spawnSync(ANALYZE, ['verify', '--man=no', file], { encoding: 'utf8' });
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

  it('a unit with a typo is reported (the check above can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-units-'));
    const file = installed('portcullis.service', dir);
    writeFileSync(file, readFileSync(file, 'utf8').replace('Restart=on-failure', 'Restart=on-fialure'));
    const r = spawnSync(ANALYZE, ['verify', '--man=no', file], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/restart specifier/i);
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
    const config = yamlFile(join(SYSTEMD, 'portcullis.yaml')) as { server: { timeouts: { drain_ms: number } } };
    expect(Number(one('TimeoutStopSec')) * 1000).toBeGreaterThan(config.server.timeouts.drain_ms + 2_000);
    expect(one('ExecStart')).toContain('--config /etc/portcullis/portcullis.yaml');
    expect(get(d, 'MemoryDenyWriteExecute')).toEqual([]); // V8's JIT needs W+X pages
  });

  it('nats-server.service: sandboxed, JetStream store in its StateDirectory', () => {
    const d = directives(readFileSync(join(SYSTEMD, 'nats-server.service'), 'utf8'));
    expect(get(d, 'ProtectSystem')).toEqual(['strict']);
    expect(get(d, 'NoNewPrivileges')).toEqual(['yes']);
    expect(get(d, 'StateDirectory')).toEqual(['nats']);
    expect(get(d, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(readFileSync(join(SYSTEMD, 'nats-server.conf'), 'utf8')).toMatch(/store_dir: \/var\/lib\/nats/);
  });

  it('the environment file names every *_env of the config', () => {
    const env = Object.keys(envFile(join(SYSTEMD, 'portcullis.env.example')));
    expect(env.sort()).toEqual(envNames(yamlFile(join(SYSTEMD, 'portcullis.yaml'))));
  });

  it('nats-server accepts the node config with the shared permissions file beside it and the passwords of its environment file (nats-server -t)', () => {
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
    // /etc/nats as the install steps lay it out
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-units-'));
    copyFileSync(join(SYSTEMD, 'nats-server.conf'), join(dir, 'nats-server.conf'));
    copyFileSync(NATS_PERMISSIONS, join(dir, 'permissions.conf'));
    const r = spawnSync('/usr/sbin/nats-server', ['-c', join(dir, 'nats-server.conf'), '-t'], { encoding: 'utf8', env: { PATH: process.env.PATH, ...natsEnv } });
    expect(r.stderr).toMatch(/configuration file .* is valid/);
    expect(r.status).toBe(0);
  });
});
