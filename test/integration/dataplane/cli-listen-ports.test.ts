// server.http2.listen.port equal to the main listener's or the admin API's port: check-config
// exits 2 naming server.http2.listen.port, and serve exits 2 before listening. Before,
// check-config said ok and serve exited 1 with "listen EADDRINUSE" from its own second bind.
import { describe, it, expect } from 'vitest';
import { runCli, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/nats.js';

const withPorts = (main: number, admin: number, h2: number): string => writeConfig(baseConfig('http://127.0.0.1:9', {
  server: { listen: { host: '127.0.0.1', port: main }, http2: { listen: { host: '127.0.0.1', port: h2 } } },
  admin: { listen: { host: '127.0.0.1', port: admin }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
}));

describe('listener ports', () => {
  it('check-config: the HTTP/2 port equal to server.listen.port or admin.listen.port is refused naming the field; distinct ports pass', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const [main, admin, distinct] = await Promise.all([
      runCli(['check-config', withPorts(a, b, a)], ADMIN_ENV),
      runCli(['check-config', withPorts(a, b, b)], ADMIN_ENV),
      runCli(['check-config', withPorts(a, b, c)], ADMIN_ENV),
    ]);
    expect(main.code, main.stdout + main.stderr).toBe(2);
    expect(main.stderr).toContain(`server.http2.listen.port: must differ from server.listen.port (${a})`);
    expect(admin.code, admin.stdout + admin.stderr).toBe(2);
    expect(admin.stderr).toContain(`server.http2.listen.port: must differ from admin.listen.port (${b})`);
    expect(distinct.code, distinct.stdout + distinct.stderr).toBe(0);
  });

  it('serve: exit 2 with the same line, nothing listening', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const r = await runCli(['serve', '--config', withPorts(a, b, a)], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`server.http2.listen.port: must differ from server.listen.port (${a})`);
    expect(r.stdout).not.toMatch(/"msg":"listening"/);
  });
});
