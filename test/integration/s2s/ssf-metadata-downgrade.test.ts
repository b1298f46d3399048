// An SSF transmitter whose metadata, fetched over https, names a plain-http configuration_endpoint
// (or verification/status endpoint): the stream-management Authorization the proxy owns would
// travel in clear text. The proxy calls none of them, as for an OIDC discovery document
// (discovery-downgrade.test.ts); a transmitter whose metadata stays on https is managed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { sleep, startRecorder, type Recorder } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const MGMT = 'Bearer ssf-mgmt-secret-0123456789abcdef';
const PUSH = 'Bearer ssf-push-secret-0123456789abcdef';
let tls: Server;
let base = '';
let plain: Recorder;
let echo: EchoUpstream;
const tlsHits: Array<{ url: string; auth: string | undefined }> = [];
let control: ProxyProcess;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  plain = await startRecorder((_req, _body, res) => { res.writeHead(404, { 'content-type': 'application/json' }).end('{}'); });
  const files = selfSignedCert();
  tls = createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (req, res) => {
    tlsHits.push({ url: req.url ?? '', auth: req.headers.authorization });
    const json = (status: number, v: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v)); };
    const name = (req.url ?? '').split('/').pop();
    if (req.url?.endsWith('/jwks')) return json(200, jwksOf([makeKey('ES256', 'ssf-1')]));
    if (req.url === `/.well-known/ssf-configuration/${name}`) {
      const at = name === 'bad' ? plain.url : base;
      return json(200, { issuer: `${base}/${name}`, jwks_uri: `${base}/${name}/jwks`, delivery_methods_supported: ['urn:ietf:rfc:8935'], configuration_endpoint: `${at}/${name}/streams`, status_endpoint: `${at}/${name}/status`, verification_endpoint: `${at}/${name}/verify` });
    }
    json(404, {});
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  base = `https://localhost:${(tls.address() as AddressInfo).port}`;
  const env = { ...ADMIN_ENV, PT_SSF_PUSH: PUSH, PT_SSF_MGMT: MGMT, NODE_EXTRA_CA_CERTS: files.cert };
  const config = (name: string): Record<string, unknown> => ({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    event_sources: {
      idp: {
        issuer: `${base}/${name}`, audiences: ['https://proxy.example/ssf'], push: { path: '/ssf/events', authorization_env: 'PT_SSF_PUSH' },
        stream: { authorization_env: 'PT_SSF_MGMT', push_url: 'https://proxy.example/ssf/events', refresh_s: 1 },
      },
    },
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
    log: { level: 'warn', access: false },
  });
  [control, proxy] = await Promise.all([startProxy(config('good'), { env }), startProxy(config('bad'), { env })]);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), control?.stop()]);
  await Promise.all([echo?.close(), plain?.close(), new Promise((r) => { tls?.close(r); tls?.closeAllConnections(); })]);
});

describe('SSF metadata over https naming plain-http management endpoints', () => {
  it('control: metadata that stays on https gets the stream read with the management Authorization', async () => {
    await waitFor("tlsHits.some((h) => h.url === '/good/streams' && h.auth === MGMT)", () => tlsHits.some((h) => h.url === '/good/streams' && h.auth === MGMT), 10_000, { detail: () => JSON.stringify(tlsHits) });
  });

  it('the plain-http configuration_endpoint is never called: the management Authorization never leaves in clear text', async () => {
    // the bad source has fetched its metadata (more than once: it retries) by now
    await waitFor("tlsHits.filter((h) => h.url === '/.well-known/ssf-configuration/bad').length >= 2", () => tlsHits.filter((h) => h.url === '/.well-known/ssf-configuration/bad').length >= 2, 10_000, { detail: () => JSON.stringify(tlsHits) });
    await sleep(300);
    expect(plain.hits.map((h) => `${h.method} ${h.url} ${h.headers.authorization ?? ''}`)).toEqual([]);
    // the refusal's log line is written asynchronously (pino): wait for it rather than assume 300 ms
    await waitFor('/plain http/.test(proxy.output())', () => /plain http/.test(proxy.output()), 10_000, { detail: () => 'a log line naming the plain-http endpoint' });
    expect(proxy.output()).not.toContain(MGMT.slice(7));
  });
});
