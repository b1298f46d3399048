// Shutdown with the HTTP/2 listener: SIGTERM sends GOAWAY to open sessions, lets a request in
// flight finish within server.timeouts.drain_ms, accepts no new connection, and the process exits 0.
import { describe, it, expect } from 'vitest';
import { startEchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';
import { h2Connect, h2Fetch, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';

describe('HTTP/2 listener at shutdown', () => {
  it('GOAWAY to the open session, the in-flight request completes, then exit 0; new connections are refused', async () => {
    const echo = await startEchoUpstream();
    const proxy = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, timeouts: { drain_ms: 5_000 } },
    }), { env: ADMIN_ENV });
    try {
      const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
      const s = await h2Connect(origin);
      let goaway = false;
      s.on('goaway', () => { goaway = true; });
      const before = echo.requests;
      const slow = h2Request(s, { ':method': 'GET', ':path': '/slow/800' });
      // in flight: the upstream holds it when SIGTERM comes
      await waitFor('echo.requests > before', () => echo.requests > before, 10_000, { detail: () => 'the request at the upstream' });
      proxy.proc.kill('SIGTERM');
      const r = await slow;
      expect(r.status, r.text).toBe(200);
      expect(goaway).toBe(true);
      expect(await proxy.exited).toBe(0);
      await expect(h2Fetch(origin, { ':method': 'GET', ':path': '/x' })).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
