// cluster.revocation.snapshot_file and cluster.policy.state_file whose folder cannot take a new file (missing —
// /var/lib/portcullis under the systemd unit without StateDirectory=, or not writable):
// check-config and serve exit 2 naming the field. Before, check-config said ok and the member ran without the copy.
import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import { runCli, writeConfig, baseConfig, ADMIN_ENV, BUS_ENV, BUS_AUTH } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

let dir: string;
const f = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = tempDir('portcullis-state-files-');
});

// NATS on a port nobody listens on: check-config never connects, serve stops before it would
const withFiles = (snapshot: string, state: string): string => writeConfig(baseConfig('http://127.0.0.1:9', {
  cluster: {
    nats: { servers: ['nats://127.0.0.1:9'] }, auth: BUS_AUTH,
    revocation: { snapshot_file: snapshot }, policy: { source: 'cluster', state_file: state },
  },
}));
const ENV = { ...ADMIN_ENV, ...BUS_ENV };

describe('check-config and the files a member writes while it runs', () => {
  it('a folder that does not exist: exit 2 naming each field; files not there yet in a folder that exists pass', async () => {
    const [bad, good] = await Promise.all([
      runCli(['check-config', withFiles(f('no-such-folder/revocations.json'), f('no-state-folder/policy.json'))], ENV),
      runCli(['check-config', withFiles(f('revocations.json'), f('policy.json'))], ENV),
    ]);
    expect(bad.code, bad.stdout + bad.stderr).toBe(2);
    expect(bad.stderr).toMatch(/cluster\.revocation\.snapshot_file: cannot write .*no-such-folder\/revocations\.json: its folder .*no-such-folder: no such file \(ENOENT\)/);
    expect(bad.stderr).toMatch(/cluster\.policy\.state_file: cannot write .*no-state-folder\/policy\.json: its folder .*no-state-folder: no such file \(ENOENT\)/);
    expect(good.code, good.stdout + good.stderr).toBe(0);
  });

  it('serve refuses the same config with exit 2 and the same lines, before listening', async () => {
    // bounded: a build without the check never exits here (it waits for the bus)
    const r = await runCli(['serve', '--config', withFiles(f('no-such-folder/revocations.json'), f('policy.json'))], ENV, 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/cluster\.revocation\.snapshot_file: cannot write .*its folder .*no-such-folder: no such file \(ENOENT\)/);
    expect(r.stdout).not.toMatch(/"msg":"listening"/);
  });
});
