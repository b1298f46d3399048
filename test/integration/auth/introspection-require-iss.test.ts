// `introspection.require_iss`: an authorization server shared by tenants that leaves `iss` out of its
// introspection answers (RFC 7662 makes it optional) may be answering for another tenant's token.
// A real relay in front of the demo authorization server plays it (drops `iss`, or names tenant B);
// the issuer with require_iss refuses such answers (401), the one without keeps accepting an iss-less one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import {
  SECRET_ENV, asIssuer, bearer, call, echoed, expectBearerError, introspection, notForwarded, startRecorder, waitReady, type Recorder, type Reply,
} from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let relay: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  // /no-iss: the answer without `iss`; /tenant-b: the answer naming another tenant's issuer
  relay = await startRecorder(async (req, body, res) => {
    const headers: Record<string, string> = { 'content-type': String(req.headers['content-type'] ?? '') };
    if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
    const r = await fetch(as.introspectionEndpoint, { method: 'POST', headers, body });
    const answer = (await r.json()) as Record<string, unknown>;
    if (req.url?.endsWith('/no-iss') === true) delete answer.iss;
    else answer.iss = 'https://tenant-b.as.example';
    res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      strict: asIssuer(as, { introspection: introspection({ require_iss: true, endpoint: `${relay.url}/strict/no-iss` }) }),
      strictb: asIssuer(as, { introspection: introspection({ require_iss: true, endpoint: `${relay.url}/strict/tenant-b` }) }),
      lax: asIssuer(as, { introspection: introspection({ endpoint: `${relay.url}/lax/no-iss` }) }),
    },
    routes: [
      { name: 'strict', match: { path: '/strict/*' }, upstream: 'app', auth: { issuers: ['strict'] } },
      { name: 'strictb', match: { path: '/strictb/*' }, upstream: 'app', auth: { issuers: ['strictb'] } },
      { name: 'lax', match: { path: '/lax/*' }, upstream: 'app', auth: { issuers: ['lax'] } },
    ],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), relay?.close()]);
});

const get = (path: string, token: string): Promise<Reply> => call(`${proxy.url}${path}`, { headers: bearer(token) });

describe('introspection.require_iss', () => {
  it('refuses (401 invalid_token, nothing forwarded) an answer without iss, and one naming another issuer', async () => {
    const noIss = await notForwarded(() => echo.requests, () => get('/strict/x', as.issueOpaque({ sub: 'bob' })));
    expectBearerError(noIss, 401, 'invalid_token');
    expect(noIss.json?.message ?? noIss.text).toMatch(/issuer missing/);
    expectBearerError(await notForwarded(() => echo.requests, () => get('/strictb/x', as.issueOpaque({ sub: 'bob' }))), 401, 'invalid_token');
  });

  it('by default (false) an answer without iss is taken as the issuer\'s, as RFC 7662 allows', async () => {
    const seen = echoed(await get('/lax/x', as.issueOpaque({ sub: 'bob' })));
    expect(seen.headers['x-auth-subject']).toBe('bob');
  });
});
