// The HTTP/2 listener with --workers: the primary picks one port for server.http2 (port 0 in
// the config), reports it as http2Port in its listening line, and connections to it are served
// by the workers (node:cluster hands them out).
import { describe, it, expect } from 'vitest';
import { startEchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';

describe('HTTP/2 listener with workers', () => {
  it('one http2Port for all workers; connections are spread over them', async () => {
    const echo = await startEchoUpstream();
    const proxy = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, workers: 2, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    }), { env: ADMIN_ENV, timeoutMs: 30_000 });
    try {
      const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
      for (let i = 0; i < 8; i++) {
        const r = await h2Fetch(origin, { ':method': 'GET', ':path': `/w/${i}` });
        expect(r.status, r.text).toBe(200);
      }
      const served = (): Set<unknown> => new Set(proxy.logs().filter((l) => l.msg === 'request' && l.listener === 'http2').map((l) => l.name));
      await waitFor('served().size === 2', () => served().size === 2, 3_000, { detail: () => `served by ${[...served()].join(', ')}` });
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
