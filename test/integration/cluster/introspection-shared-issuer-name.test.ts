// Two members on nats-server whose files give issuer "t" two meanings (tenant a at one authorization server, tenant b at
// another — a repointing policy spreading, or files that differ). Tenant a's server calls token T active without naming
// `iss` (RFC 7662 allows it); tenant b's has never heard of T. Member A shares the answer under "t"; member B judges it
// under its own "t". Before, the iss-less answer passed B's `iss` check as tenant b's own and B let T in (200) without
// asking tenant b's server; now a shared answer names the issuer its member took it for, and B refuses it (401).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { clusterMemberConfig, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';
import { metric } from './proxy-fixtures.js';

const stand = busStand();
const TENANT_A = 'https://as.test/realms/a', TENANT_B = 'https://as.test/realms/b';
const asked: string[] = [];
let as: ScriptedUpstream;
beforeAll(async () => {
  as = await startScriptedUpstream((req, res) => {
    if (req.url === '/jwks') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'); return; }
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      asked.push(String(req.url));
      const active = req.url === '/a/introspect' && new URLSearchParams(body).get('token') === 'token-of-tenant-a';
      const answer = active ? { active: true, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300, token_type: 'Bearer' } : { active: false };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
});
afterAll(async () => { await as?.close(); });

const member = (iss: string, path: string): Record<string, unknown> => clusterMemberConfig({
  issuers: { t: { issuer: iss, audiences: ['api'], discovery: false, jwks_uri: `${as.url}/jwks`, introspection: { endpoint: `${as.url}${path}`, client_id: 'proxy', client_secret_env: 'PT_AS_SECRET' } } },
  upstreams: { echo: { targets: [stand.echo.url] } },
  routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: { issuers: ['t'] } }],
  cluster: stand.cluster(),
});

describe('a shared introspection answer under an issuer name that means another issuer at the receiver', () => {
  let A: ProxyProcess, B: ProxyProcess;
  beforeAll(async () => {
    const env = { ...ADMIN_ENV, ...BUS_ENV, PT_AS_SECRET: 'as-secret' };
    [A, B] = await Promise.all([startProxy(member(TENANT_A, '/a/introspect'), { env }), startProxy(member(TENANT_B, '/b/introspect'), { env })]);
    stand.track(A); stand.track(B);
    await Promise.all([waitReadyWithMembers(A, 2), waitReadyWithMembers(B, 2)]);
  }, 60_000);

  const status = async (p: ProxyProcess): Promise<number> => {
    const r = await request(`${p.url}/api/x`, { headers: { authorization: 'Bearer token-of-tenant-a' } });
    await r.body.dump();
    return r.statusCode;
  };

  it('is refused at the member where the name means tenant b, as tenant b\'s own server would', async () => {
    expect(await status(A)).toBe(200);
    // B took A's answer in (a fill, or the owner's kept result): its cache holds it before B is asked
    await waitFor('B to hold the shared answer', async () => (await metric(B, 'portcullis_introspection_cache_entries')) >= 1, 10_000);
    expect(await status(B)).toBe(401);
    expect(await status(A)).toBe(200);
  }, 30_000);
});
