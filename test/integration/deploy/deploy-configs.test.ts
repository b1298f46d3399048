// Every Portcullis config an operator deploys from deploy/ (compose, Kubernetes base and
// overlay, systemd, the documented example) passes `portcullis check-config`, as the CLI runs,
// with a value for every *_env it names (which artifact provides each is checked by that
// artifact's test). Every one on NATS authenticates its bus messages and connects as the
// proxies' user of deploy/nats/permissions.conf, the file every deployed nats-server includes.
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '../../helpers/temp-dirs.js';
import { ROOT, runCli } from '../../helpers/proxy-process.js';
import { deployConfigs, envNames, NATS_PERMISSIONS, natsUsers, yamlFile } from '../../helpers/deploy-files.js';

interface ClusterSection {
  nats?: { user?: string; password_env?: string; inbox_prefix?: string };
  auth?: { mode?: string; key_env?: string; key_file?: string };
  subject_prefix?: string;
}

describe('deploy/: configs', () => {
  const configs = deployConfigs();
  const onNats = configs.filter((f) => (yamlFile(join(ROOT, f)).cluster as ClusterSection | undefined)?.nats !== undefined);

  it('there is one per artifact (compose, kubernetes base + overlay, systemd, the example)', () => {
    expect(configs).toEqual(expect.arrayContaining([
      'deploy/compose/portcullis.yaml',
      'deploy/kubernetes/base/portcullis.yaml',
      'deploy/kubernetes/overlays/example/portcullis.yaml',
      'deploy/systemd/portcullis.yaml',
      'deploy/portcullis.example.yaml',
    ]));
    expect(onNats).toEqual(expect.arrayContaining(['deploy/compose/portcullis.yaml', 'deploy/kubernetes/base/portcullis.yaml', 'deploy/kubernetes/overlays/example/portcullis.yaml', 'deploy/systemd/portcullis.yaml']));
  });

  it.each(configs)('%s passes check-config', async (file) => {
    // values of the shape the artifacts document: 48 random bytes, base64 (≥ 32 bytes for the bus key)
    const env = Object.fromEntries(envNames(yamlFile(join(ROOT, file))).map((n) => [n, randomBytes(48).toString('base64')]));
    // a decision socket's folder is made by its service manager (the systemd unit's RuntimeDirectory): where it
    // is missing here (an operator checking the config while the unit is stopped), check-config passes with a
    // warning naming the directive — before, exit 2 for a folder systemd makes at start — while serve still
    // refuses (exit 2: no restart loop); with the socket moved elsewhere, no warning at all
    const socket = (yamlFile(join(ROOT, file)).server as { decision?: { unix_socket?: { path: string } } } | undefined)?.decision?.unix_socket?.path;
    let path = join(ROOT, file);
    if (socket !== undefined && !existsSync(dirname(socket))) {
      expect(dirname(socket)).toBe('/run/portcullis'); // deploy/systemd/portcullis.service's RuntimeDirectory=portcullis
      const stopped = await runCli(['check-config', path], env);
      expect([stopped.code, stopped.stderr], stopped.stdout).toEqual([0, `warning: server.decision.unix_socket.path: /run/portcullis does not exist yet: systemd makes it when the unit starts if the unit has RuntimeDirectory=portcullis; serve refuses to start (exit 2) while it is still missing\n`]);
      const serve = await runCli(['serve', '--config', path], env);
      expect([serve.code, serve.stderr], serve.stdout).toEqual([2, expect.stringContaining(`server.decision.unix_socket.path: cannot write ${socket}: its folder ${dirname(socket)}: no such file (ENOENT); under systemd the unit needs RuntimeDirectory=portcullis`)]);
      path = join(tempDir('portcullis-deploy-socket-'), 'portcullis.yaml');
      writeFileSync(path, readFileSync(join(ROOT, file), 'utf8').replaceAll(socket, join(dirname(path), 'decision.sock')));
    }
    const r = await runCli(['check-config', path], env);
    // the compose demo's identity provider speaks plain http inside the compose network: warned, on purpose
    const expected = file === 'deploy/compose/portcullis.yaml' ? [expect.stringMatching(/^warning: issuers\.demo\.issuer: .*plain http at auth:9000/)] : [];
    expect(r.stderr.split('\n').filter((l) => l !== '')).toEqual(expected);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: /);
  });

  it.each(onNats)('%s: bus key from the environment; NATS as the proxies\' user of deploy/nats/permissions.conf', (file) => {
    const cluster = yamlFile(join(ROOT, file)).cluster as ClusterSection;
    expect(cluster.auth?.mode ?? 'hmac').toBe('hmac');
    expect(cluster.auth?.key_env).toBe('PORTCULLIS_BUS_KEY');
    // the permissions are written for the default prefix
    expect(cluster.subject_prefix ?? 'portcullis').toBe('portcullis');
    const users = natsUsers(readFileSync(NATS_PERMISSIONS, 'utf8'));
    expect(users.map((u) => u.user).sort()).toEqual(['portcullis', 'portcullis-revoke']);
    const proxy = users.find((u) => u.user === cluster.nats!.user);
    expect(proxy, `cluster.nats.user ${cluster.nats!.user} is not a user of permissions.conf`).toBeDefined();
    expect(proxy!.user).toBe('portcullis'); // not the revoke user: it may not read the bus
    expect(cluster.nats!.password_env).toBe(proxy!.passwordEnv);
    // replies arrive on <inbox_prefix>.…: the user must be allowed to read them
    expect(proxy!.subscribe).toContain(`${cluster.nats!.inbox_prefix}.>`);
  });
});
