// A chain of services, each calling the next through the proxy with the internal token it got:
// every hop mints a token carrying the one it replaced (portcullis_src, at most 4 levels). The hop
// that would mint a 5th level refuses, so no service is handed a token the proxy itself would refuse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitReady } from '../ws/ws-fixtures.js';
import { freePort } from '../../helpers/ports.js';
import { adminPost, stats } from './s2s-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const SELF = 'https://portcullis.internal';
const HOPS = 6;
const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const depthOf = (jwt: string): number => {
  let n = 0;
  for (let s = claimsOf(jwt).portcullis_src as { src?: unknown } | undefined; s !== undefined; s = s.src as { src?: unknown } | undefined) n++;
  return n;
};

describe('an internal-token chain longer than the derivation levels a token may carry', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const got = new Map<string, string>(); // path → bearer token the service of that hop received

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { got.set(String(req.url), String(req.headers.authorization ?? '').replace(/^Bearer /, '')); res.end('ok'); });
    const port = await freePort();
    const self = { issuer: SELF, jwks_uri: `http://127.0.0.1:${port}/.well-known/jwks.json`, algorithms: ['ES256'], clock_skew_s: 0 };
    const issuers: Record<string, unknown> = { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 } };
    const upstreams: Record<string, unknown> = {};
    const routes: unknown[] = [];
    // hop i: /s<i>/* → service s<i>; hop 1 takes the user's token, hop i > 1 the token minted for s<i-1>
    for (let i = 1; i <= HOPS; i++) {
      upstreams[`s${i}`] = { targets: [up.url] };
      if (i > 1) issuers[`from_s${i - 1}`] = { ...self, audiences: [`s${i - 1}`] };
      routes.push({ name: `s${i}`, match: { path: `/s${i}/*` }, upstream: `s${i}`, auth: i === 1 ? {} : { issuers: [`from_s${i - 1}`] }, forward: { token: 'internal' } });
    }
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers, upstreams, routes,
      internal_tokens: { issuer: SELF, signing: 'inline' },
      log: { level: 'info' },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const hop = async (i: number, tok: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`${proxy.url}/s${i}/x`, { headers: { authorization: `Bearer ${tok}` } });
    return { status: r.status, body: await r.text() };
  };

  it('hops 1-4 mint, each carrying the chain to the user; the 5th is refused 403 before anything reaches its service', async () => {
    const user = await as.issueJwt({ sub: 'alice', scope: 'read' });
    let tok = user;
    for (let i = 1; i <= 4; i++) {
      expect((await hop(i, tok)).status, `hop ${i}`).toBe(200);
      tok = got.get(`/s${i}/x`)!;
      expect(depthOf(tok), `hop ${i}`).toBe(i);
    }
    const before = (await stats(proxy))['internal_tokens.chain_too_deep'] ?? 0;
    // before: 200 — s5 got a token with 5 levels, refused by this very proxy (401 token malformed) at hop 6
    const fifth = await hop(5, tok);
    expect(fifth.status).toBe(403);
    expect(fifth.body).toContain('chain');
    expect(got.has('/s5/x')).toBe(false);
    expect((await stats(proxy))['internal_tokens.chain_too_deep']).toBe(before + 1);
    await waitFor('the refusal in the access log', () => proxy.logs().some((l) => l.deny === 'internal_token_chain_too_deep' && l.status === 403), 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(JSON.stringify(proxy.logs())).not.toContain(tok);
  });

  it('every level of a chain still dies with the user\'s token', async () => {
    const user = await as.issueJwt({ sub: 'bob', scope: 'read' });
    let tok = user;
    for (let i = 1; i <= 4; i++) { expect((await hop(i, tok)).status).toBe(200); tok = got.get(`/s${i}/x`)!; }
    expect((await adminPost(proxy, '/revocations', { kind: 'jti', value: claimsOf(user).jti })).status).toBeLessThan(300);
    expect((await hop(5, tok)).status).toBe(401);
  });
});
