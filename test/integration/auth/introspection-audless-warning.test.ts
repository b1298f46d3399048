// `introspection.require_aud` is off by default (RFC 7662 makes `aud` optional): an authorization server that
// leaves `aud` out cannot say a token was minted for another resource server, and such tokens pass. The first
// accepted answer without `aud` is logged once at warn, naming the issuer and the option; before, nothing said so.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { SECRET_ENV, asIssuer, bearer, call, echoed, introspection, startRecorder, waitReady, type Recorder } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let relay: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  // /no-aud: the answer without `aud`; /aud: as the server sent it
  relay = await startRecorder(async (req, body, res) => {
    const headers: Record<string, string> = { 'content-type': String(req.headers['content-type'] ?? '') };
    if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
    const r = await fetch(as.introspectionEndpoint, { method: 'POST', headers, body });
    const answer = (await r.json()) as Record<string, unknown>;
    if (req.url?.endsWith('/no-aud') === true) delete answer.aud;
    res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      named: asIssuer(as, { introspection: introspection({ endpoint: `${relay.url}/named/aud` }) }),
      lax: asIssuer(as, { introspection: introspection({ endpoint: `${relay.url}/lax/no-aud` }) }),
    },
    routes: [
      { name: 'named', match: { path: '/named/*' }, upstream: 'app', auth: { issuers: ['named'] } },
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

const AUDLESS = /^introspection answer without aud accepted: .*set introspection\.require_aud: true/;
const audless = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => AUDLESS.test(String(l.msg)));

describe('an introspection answer without aud, require_aud off', () => {
  it('is accepted and logged once at warn with its issuer; answers naming the audience say nothing', async () => {
    echoed(await call(`${proxy.url}/named/x`, { headers: bearer(as.issueOpaque({ sub: 'ann' })) }));
    echoed(await call(`${proxy.url}/lax/x`, { headers: bearer(as.issueOpaque({ sub: 'bob' })) }));
    echoed(await call(`${proxy.url}/lax/y`, { headers: bearer(as.issueOpaque({ sub: 'cid' })) }));
    await waitFor('the aud-less warning', () => audless().length > 0, 5_000);
    // one more aud-less answer after the line arrived, its access line awaited: still one warning
    echoed(await call(`${proxy.url}/lax/z`, { headers: bearer(as.issueOpaque({ sub: 'dan' })) }));
    await waitFor('the access line of /lax/z', () => proxy.logs().some((l) => l.msg === 'request' && l.path === '/lax/z'), 5_000);
    expect(audless().map((l) => [l.level, l.issuer])).toEqual([[40, 'lax']]);
  });
});
