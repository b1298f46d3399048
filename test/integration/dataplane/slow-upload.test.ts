// Slow request bodies: the pinned uWebSockets.js build cuts a body arriving slower than
// 16 KiB/s 8–12 s after its headers, with no answer (test/integration/dataplane/uws-limits.test.ts
// shows it on a bare uWS app). The proxy keeps uWS's timer from firing, so what ends a slow
// upload is server.timeouts.request_ms, as README promises: a 408, or the whole body forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { sourceValue } from '../../../node/metrics/index.js';

// Above the complete upload's ~12 s with room for a loaded machine's late timers (60 of them), below
// the endless one's 40 s: every second of it is waited out by the 408 case.
const REQUEST_MS = 16_000;

describe('slow uploads', () => {
  let app: ScriptedUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    app = await startScriptedUpstream((req, res, seen) => {
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bodyBytes: seen.bodyBytes }));
      });
    });
    proxy = await startProxy(baseConfig(app.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { request_ms: REQUEST_MS } },
    }), { env: ADMIN_ENV });
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
  });

  async function listenerMetric(name: string): Promise<number> {
    const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return sourceValue(await r.body.text(), `listener.${name}`);
  }

  it('a body slower than uWS allows is forwarded whole when it completes within request_ms; one that does not gets 408 at request_ms', async () => {
    // 5 KB/s for ~12 s: past uWS's 8–12 s cut, inside request_ms
    const complete = rawRequest(proxy.port, [requestText('POST', '/upload', [['Content-Length', '60000']]), ...Array.from({ length: 60 }, () => 'a'.repeat(1000))], { gapMs: 200, timeoutMs: 40_000 });
    // 500 B/s that would need minutes: request_ms ends it
    const t0 = performance.now();
    const endless = rawRequest(proxy.port, [requestText('POST', '/upload', [['Content-Length', '1000000']]), ...Array.from({ length: 200 }, () => 'b'.repeat(100))], { gapMs: 200, timeoutMs: 40_000 })
      .then((r) => ({ r, ms: performance.now() - t0 }));

    const c = await complete;
    expect(c.status).toBe(200);
    expect(JSON.parse(c.body.toString())).toEqual({ bodyBytes: 60_000 });

    const e = await endless;
    expect(e.r.status).toBe(408);
    expect(JSON.parse(e.r.body.toString())).toMatchObject({ code: 'PORTCULLIS_ERR_REQUEST_TIMEOUT' });
    expect(e.ms).toBeGreaterThanOrEqual(REQUEST_MS - 500);

    expect(await listenerMetric('request_timeouts_total')).toBe(1);
    // ~every 4 s per slow body: the proxy, not uWS, decided when each upload ended
    expect(await listenerMetric('uws_body_timer_rearms_total')).toBeGreaterThanOrEqual(4);
  }, 60_000);
});
