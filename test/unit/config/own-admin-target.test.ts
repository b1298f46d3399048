// An upstream target at the instance's own admin listener (its local part's admin.listen) is a config error at the
// target's path, in every spelling that reaches that socket; another port, another host, or an admin port of 0 is not.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { validateConfig } from '../../../node/config/index.js';

const doc = (targets: string[], adminListen: Record<string, unknown> = { host: '127.0.0.1', port: 9901 }): Record<string, unknown> => ({
  admin: { listen: adminListen },
  upstreams: { app: { targets: ['http://127.0.0.1:8080'] }, adm: { targets } },
  routes: [{ name: 'a', match: { path: '/a/*' }, upstream: 'app', auth: 'none' }, { name: 'b', match: { path: '/b/*' }, upstream: 'adm', auth: 'none' }],
});

const paths = (d: Record<string, unknown>): string[] => {
  const r = validateConfig(d);
  return r.ok ? [] : r.errors.map((e) => e.path);
};

describe('an upstream at the instance\'s own admin listener', () => {
  it('every spelling of loopback at the admin port is refused at its path, naming the admin listener', () => {
    const spellings = ['http://127.0.0.1:9901', 'http://localhost:9901/', 'http://LOCALHOST.:9901', 'http://127.1:9901', 'http://0x7f.0.0.1:9901',
      'http://127.9.9.9:9901', 'http://[::1]:9901', 'http://[::ffff:127.0.0.1]:9901', 'http://0.0.0.0:9901', 'http://[::]:9901', 'https://x.localhost:9901'];
    for (const t of spellings) expect(paths(doc([t])), t).toEqual(['upstreams.adm.targets[0]']);
    const r = validateConfig(doc(['http://127.0.0.1:8081', 'http://localhost:9901']));
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'upstreams.adm.targets[1]', message: expect.stringMatching(/^localhost:9901 is this instance's admin listener \(admin\.listen 127\.0\.0\.1:9901\): a route to it would open the admin API/) }]);
  });

  it('this host\'s own names count: its hostname and the names /etc/hosts gives a loopback address', () => {
    // before, names were never looked at: http://<hostname>:<admin port> passed and reached the admin API (Debian maps the
    // hostname to 127.0.1.1 in /etc/hosts)
    const hosts = readFileSync('/etc/hosts', 'utf8').split('\n').map((l) => l.replace(/#.*$/, '').trim().split(/\s+/))
      .filter(([a]) => a !== undefined && /^127\./.test(a)).flatMap(([, ...n]) => n).filter((n) => n !== '' && n.toLowerCase() !== 'localhost');
    for (const n of [hostname(), hostname().toUpperCase() + '.', ...hosts]) expect(paths(doc([`http://${n}:9901`])), n).toEqual(['upstreams.adm.targets[0]']);
    expect(paths(doc([`http://${hostname()}:9902`]))).toEqual([]);
  });

  it('the default port of the scheme counts (an admin listener on 80)', () => {
    expect(paths(doc(['http://localhost'], { host: '127.0.0.1', port: 80 }))).toEqual(['upstreams.adm.targets[0]']);
    expect(paths(doc(['https://localhost'], { host: '127.0.0.1', port: 80 }))).toEqual([]);
  });

  it('an admin on a host address: that address at its port; on a wildcard: any interface address of this host', () => {
    expect(paths(doc(['http://10.1.2.3:9901'], { host: '10.1.2.3', port: 9901 }))).toEqual(['upstreams.adm.targets[0]']);
    expect(paths(doc(['http://10.1.2.4:9901'], { host: '10.1.2.3', port: 9901 }))).toEqual([]);
    const own = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4');
    if (own === undefined) throw new Error('no IPv4 interface address here');
    expect(paths(doc([`http://${own.address}:9901`], { host: '0.0.0.0', port: 9901 }))).toEqual(['upstreams.adm.targets[0]']);
  });

  it('another port, another host, or an admin port chosen when bound (0) is fine', () => {
    expect(paths(doc(['http://127.0.0.1:9902', 'http://192.0.2.1:9901', 'http://service.internal:9901']))).toEqual([]);
    expect(paths(doc(['http://127.0.0.1:9901'], { host: '127.0.0.1', port: 0 }))).toEqual([]);
  });
});
