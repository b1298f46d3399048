// portcullis_inflight_requests counts requests in flight on the HTTP/2 listener too (before: only
// the main listener's, so a scrape during a slow h2 call read 0).
import { describe, it, expect } from 'vitest';
import { startEchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { metrics, sample } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

describe('portcullis_inflight_requests with server.http2', () => {
  it('reads 1 during a slow h2 request and 0 after it', async () => {
    const echo = await startEchoUpstream();
    const proxy = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    }), { env: ADMIN_ENV });
    try {
      const inflight = async (): Promise<number | null> => sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_inflight_requests');
      const s = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
      const slow = h2Request(s, { ':method': 'GET', ':path': '/slow/1500' });
      // the request reaches the proxy, and leaves its count, in another process: wait for each reading
      // (10 s is a failure bound; the first must come while the upstream still holds the request)
      await waitFor('(await inflight()) === 1', async () => (await inflight()) === 1, 10_000, { detail: () => 'reads 1 during the slow h2 request' });
      expect((await slow).status).toBe(200);
      s.close();
      await waitFor('(await inflight()) === 0', async () => (await inflight()) === 0, 10_000, { detail: () => 'reads 0 after it' });
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
