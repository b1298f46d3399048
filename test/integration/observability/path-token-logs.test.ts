// A token sent as a path segment (`/download/<token>`, a signed link) reaches the upstream as sent, but
// the access line, the span's `url.path` and the line of a request refused before routing name it by
// its fingerprint only — before, the whole token was written there; so do the lines of a path refused as
// received (both listeners) whose token's dots are escaped (`%2E`). A path without one is logged as is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { attr, startOtlpCollector, type OtlpCollector } from '../../helpers/otlp-collector.js';
import { call, echoed } from '../auth/tokens-helpers.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { waitFor } from '../../helpers/wait.js';

const fp = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

let as: AuthServer;
let echo: EchoUpstream;
let otlp: OtlpCollector;
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo, otlp] = await Promise.all([startAuthServer(), startEchoUpstream(), startOtlpCollector()]);
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    routes: [{ name: 'files', match: { path: '/files/*' }, upstream: 'app', auth: 'none' }],
    tracing: { enabled: true, endpoint: otlp.url, batch: { interval_ms: 50 } },
    log: { level: 'debug', access: true },
  }));
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), otlp?.close()]);
});

describe('a token in a path segment', () => {
  it('is forwarded as sent but logged and traced by fingerprint, also when refused before routing', async () => {
    const token = await as.issueJwt({ sub: 'link' });
    const sig = token.split('.')[2]!;
    expect(echoed(await call(`${proxy.url}/files/${token}/report.pdf`)).url).toBe(`/files/${token}/report.pdf`);
    expect((await call(`${proxy.url}/elsewhere/${token}`)).status).toBe(404);
    expect((await call(`${proxy.url}/files/${token}/%zz`)).status).toBe(400);
    expect((await call(`${proxy.url}/files/plain-id-42`)).status).toBe(200);
    // its dots percent-escaped (an upstream decodes them back): refused before normalising, the path is logged as received
    const escaped = token.replaceAll('.', '%2E');
    expect((await call(`${proxy.url}/files/${escaped}/%zz`)).status).toBe(400);
    expect(echoed(await call(`${proxy.url}/files/${escaped}`)).url).toBe(`/files/${token}`);
    const lines = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.msg === 'request');
    await waitFor('six access lines', () => lines().length === 6, 10_000, { detail: () => proxy.output() });
    // the HTTP/2 listener's line of a path it refused before normalising, too
    expect((await h2Fetch(`http://127.0.0.1:${http2PortOf(proxy.logs())}`, { ':path': `/files/${escaped}/%zz` })).status).toBe(400);
    await waitFor('seven access lines', () => lines().length === 7, 10_000, { detail: () => proxy.output() });
    expect(lines()[6]!.path).toBe(`/files/[token ${fp(token)}]/%zz`);
    expect(lines().slice(0, 6).map((l) => [l.route, l.path])).toEqual([
      ['files', `/files/[token ${fp(token)}]/report.pdf`],
      ['(none)', `/elsewhere/[token ${fp(token)}]`],
      ['(none)', `/files/[token ${fp(token)}]/%zz`],
      ['files', '/files/plain-id-42'],
      ['(none)', `/files/[token ${fp(token)}]/%zz`],
      ['files', `/files/[token ${fp(token)}]`],
    ]);
    const paths = (): unknown[] => otlp.spans.filter((s) => attr(s, 'url.path') !== undefined).map((s) => attr(s, 'url.path'));
    await waitFor('seven request spans', () => paths().length === 7, 10_000, { detail: () => JSON.stringify(paths()) });
    expect(paths()).toContain(`/files/[token ${fp(token)}]/report.pdf`);
    expect(paths()).toContain('/files/plain-id-42');
    expect(proxy.output()).not.toContain(sig);
    expect(JSON.stringify(otlp.spans)).not.toContain(sig);
  });
});
