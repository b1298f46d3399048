// routes[].access_log.sample_allowed on the HTTP/2 listener as on the main one: a route with
// sample_allowed 0 writes no line for its allowed h2 requests, still logs its error statuses, and
// the lines left out are counted in /metrics (before: every h2 request was logged, none counted).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { metrics, sample } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    routes: [
      { name: 'quiet', match: { path: '/quiet/*' }, upstream: 'app', auth: 'none', access_log: { sample_allowed: 0 } },
      { name: 'loud', match: { path: '/loud/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
});
afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const lines = (route: string): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.msg === 'request' && l.route === route);

describe('access-log sampling per route on the HTTP/2 listener', () => {
  it('leaves out allowed h2 requests of a sampled route, keeps its error statuses, and counts what it left out', async () => {
    const s = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      for (let i = 0; i < 10; i++) expect((await h2Request(s, { ':method': 'GET', ':path': `/quiet/${i}` })).status).toBe(200);
      expect((await h2Request(s, { ':method': 'GET', ':path': '/quiet/status/404' })).status).toBe(404);
      for (let i = 0; i < 3; i++) expect((await h2Request(s, { ':method': 'GET', ':path': `/loud/${i}` })).status).toBe(200);
    } finally { s.close(); }
    await waitFor("lines('loud').length === 3", () => lines('loud').length === 3);
    expect(lines('quiet').map((l) => l.status)).toEqual([404]);
    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(text, 'portcullis_access_log_lines_sampled_out_total')).toBe(10);
    expect(sample(text, 'portcullis_requests_total{route="quiet",status="200"}')).toBe(10);
  });
});
