// Per-route access-log sampling as an operator sees it: a route with sample_allowed 0 writes no
// line for its allowed requests but still logs its denials and error statuses; other routes log
// every request; the lines left out are counted in /metrics.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, metrics, sample } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: { issuer: 'https://issuer.invalid', jwks_uri: 'http://127.0.0.1:9/jwks', audiences: ['x'] } },
    routes: [
      { name: 'quiet', match: { path: '/quiet/*' }, upstream: 'app', auth: 'none', access_log: { sample_allowed: 0 } },
      { name: 'guarded', match: { path: '/guarded/*' }, upstream: 'app', auth: { scopes: { all: ['a'] } }, access_log: { sample_allowed: 0 } },
      { name: 'loud', match: { path: '/loud/*' }, upstream: 'app', auth: 'none' },
    ],
  }));
});
afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const lines = (route: string): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.msg === 'request' && l.route === route);

describe('access-log sampling per route', () => {
  it('leaves out allowed requests of a sampled route, keeps its errors and denials, and counts what it left out', async () => {
    for (let i = 0; i < 20; i++) expect((await call(`${proxy.url}/quiet/${i}`)).status).toBe(200);
    expect((await call(`${proxy.url}/quiet/status/404`)).status).toBe(404);
    expect((await call(`${proxy.url}/quiet/status/503`)).status).toBe(503);
    expect((await call(`${proxy.url}/guarded/x`)).status).toBe(503); // keys never load: refused, and a refusal is always logged
    for (let i = 0; i < 5; i++) expect((await call(`${proxy.url}/loud/${i}`)).status).toBe(200);
    await waitFor("lines('loud').length === 5 && lines('guarded').length === 1", () => lines('loud').length === 5 && lines('guarded').length === 1);
    expect(lines('quiet').map((l) => l.status).sort()).toEqual([404, 503]);
    expect(lines('guarded')[0]).toMatchObject({ status: 503, deny: 'not_ready' });
    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(text, 'portcullis_access_log_lines_sampled_out_total')).toBe(20);
    // metrics still count every request
    expect(sample(text, 'portcullis_requests_total{route="quiet",status="200"}')).toBe(20);
  });
});
