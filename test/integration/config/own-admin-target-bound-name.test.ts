// An admin listener bound by name (admin.listen.host: a name /etc/hosts gives an address, as Kubernetes writes the
// pod's own name) is found behind the address too: before, the name was compared as text and an upstream target at
// that address and the admin port passed check-config — a route opening the admin API to every client.
// /etc/hosts is replaced in a private mount namespace (unshare, as the Dockerfile test does) for the CLI alone.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, writeConfig } from '../../helpers/proxy-process.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dirs.js';

afterAll(() => removeTempDirs());

const hosts = join(tempDir(), 'hosts');
writeFileSync(hosts, '127.0.0.1 localhost\n::1 localhost\n10.77.0.5 adminname\n');

/** check-config run with `hosts` as /etc/hosts: its exit code and the line naming the target, or its last line. */
function check(adminHost: string, target: string): { code: number | null; line: string } {
  const file = writeConfig({
    server: { listen: { host: '127.0.0.1', port: 18080 } },
    admin: { listen: { host: adminHost, port: 9901 } },
    issuers: { demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', audiences: ['a'] } },
    upstreams: { svc: { targets: [target] } },
    routes: [{ name: 'svc', match: { path: '/svc/*' }, upstream: 'svc', auth: {} }],
  });
  const script = 'mount --bind "$H" /etc/hosts && exec "$@"';
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', process.execPath, CLI, 'check-config', '--no-env', file],
    { env: { ...process.env, H: hosts }, encoding: 'utf8', timeout: 30_000 });
  const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
  return { code: r.status, line: (lines.find((l) => l.includes('upstreams.svc.targets[0]')) ?? lines.at(-1) ?? '').trim() };
}

describe('an upstream target at the address of an admin listener bound by name', () => {
  it('is refused like the name itself', () => {
    const refused = { code: 2, line: expect.stringMatching(/^upstreams\.svc\.targets\[0\]: 10\.77\.0\.5:9901 is this instance's admin listener \(admin\.listen adminname:9901\)/) };
    // before: "ok: … (1 routes, 1 upstreams, 1 issuers; environment not checked)", exit 0
    expect(check('adminname', 'http://10.77.0.5:9901')).toEqual(refused);
    expect(check('adminname', 'http://[::ffff:10.77.0.5]:9901')).toMatchObject({ code: 2 });
    expect(check('adminname', 'http://adminname:9901')).toMatchObject({ code: 2 });
  });

  it('still takes another address, or that address at another port', () => {
    expect(check('adminname', 'http://10.77.0.6:9901')).toMatchObject({ code: 0 });
    expect(check('adminname', 'http://10.77.0.5:9902')).toMatchObject({ code: 0 });
  });
});
