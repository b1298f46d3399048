// portcullis_inflight_requests counts requests in flight on the HTTP/2 listener too (before: only
// the main listener's, so a scrape during a slow h2 call read 0).
import { describe, it, expect } from 'vitest';
import { startEchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { metrics, sample } from '../auth/tokens-helpers.js';

describe('portcullis_inflight_requests with server.http2', () => {
  it('reads 1 during a slow h2 request and 0 after it', async () => {
    const echo = await startEchoUpstream();
    const proxy = await startProxy(baseConfig(echo.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    }), { env: ADMIN_ENV });
    try {
      const s = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
      const slow = h2Request(s, { ':method': 'GET', ':path': '/slow/1500' });
      await new Promise((r) => setTimeout(r, 400));
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_inflight_requests'), 'during the slow h2 request').toBe(1);
      expect((await slow).status).toBe(200);
      s.close();
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_inflight_requests'), 'after it').toBe(0);
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
