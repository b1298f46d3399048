// The wire marker of an `iss` a member filled into a shared introspection answer (cache.filled / introspection.leased
// v2): two members on nats-server, an authorization server that names no `iss`. A member with `require_iss` refuses a
// filled-in answer as it would its own server's; an older build's iss-less `cache.filled` v1 is not taken (the member
// asks its own server); two members of this build still share an answer (one introspection per token).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { clusterMemberConfig, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, BUS_ENV, BUS_KEY, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';
import { metric } from './proxy-fixtures.js';

const stand = busStand({ client: true });
const ISS = 'https://as.test/realms/one';
/** Tokens the server calls active (without `iss`); every other one is inactive. */
const ACTIVE = new Set(['strict-token', 'open-token']);
const asked: string[] = [];
let as: ScriptedUpstream;
beforeAll(async () => {
  as = await startScriptedUpstream((req, res) => {
    if (req.url === '/jwks') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'); return; }
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      asked.push(token);
      const answer = ACTIVE.has(token) ? { active: true, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300, token_type: 'Bearer' } : { active: false };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
});
afterAll(async () => { await as?.close(); });

/** Issuers `open` and `strict` (the same server, the same `iss`); `strict` has require_iss at `strictRequiresIss` members. */
const member = (strictRequiresIss: boolean): Record<string, unknown> => {
  const issuer = (requireIss: boolean): Record<string, unknown> => ({
    issuer: ISS, audiences: ['api'], discovery: false, jwks_uri: `${as.url}/jwks`,
    introspection: { endpoint: `${as.url}/introspect`, client_id: 'proxy', client_secret_env: 'PT_AS_SECRET', require_iss: requireIss },
  });
  return clusterMemberConfig({
    issuers: { open: issuer(false), strict: issuer(strictRequiresIss) },
    upstreams: { echo: { targets: [stand.echo.url] } },
    routes: [
      { name: 'open', match: { path: '/open/*' }, upstream: 'echo', auth: { issuers: ['open'] } },
      { name: 'strict', match: { path: '/strict/*' }, upstream: 'echo', auth: { issuers: ['strict'] } },
    ],
    cluster: stand.cluster(),
  });
};

describe('the origin of a shared answer\'s iss travels with it', () => {
  let A: ProxyProcess, B: ProxyProcess;
  beforeAll(async () => {
    const env = { ...ADMIN_ENV, ...BUS_ENV, PT_AS_SECRET: 'as-secret' };
    [A, B] = await Promise.all([startProxy(member(false), { env }), startProxy(member(true), { env })]);
    stand.track(A); stand.track(B);
    await Promise.all([waitReadyWithMembers(A, 2), waitReadyWithMembers(B, 2)]);
  }, 60_000);

  const status = async (p: ProxyProcess, path: string, token: string): Promise<number> => {
    const r = await request(`${p.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    await r.body.dump();
    return r.statusCode;
  };
  const askedFor = (token: string): number => asked.filter((t) => t === token).length;

  it('is refused at a member with require_iss when its sharer filled it in, as that member\'s own server\'s answer would be', async () => {
    expect(await status(A, '/strict/x', 'strict-token')).toBe(200);
    // B took A's answer in (a fill, or the owner's kept result) before B is asked
    await waitFor('B to hold the shared answer', async () => (await metric(B, 'portcullis_introspection_cache_entries')) >= 1, 10_000);
    expect(await status(B, '/strict/x', 'strict-token')).toBe(401);
    expect(await status(A, '/strict/x', 'strict-token')).toBe(200);
    expect(askedFor('strict-token')).toBe(1);
  }, 30_000);

  it('is shared between members of this build: one introspection per token, both members let it in', async () => {
    expect(await status(A, '/open/x', 'open-token')).toBe(200);
    expect(await status(B, '/open/x', 'open-token')).toBe(200);
    expect(askedFor('open-token')).toBe(1);
  }, 30_000);

  it('an older build\'s cache.filled v1 without iss is not taken: the member asks its own server', async () => {
    // exactly what a build before the marker publishes for an iss-less answer: msgpack v1 record, sealed under the bus key
    const token = 'inactive-at-the-server';
    const key = createHash('sha256').update(token).digest('hex');
    const subject = `${String(stand.cluster().subject_prefix)}.cache.introspection`;
    const v1 = new Codec().encode({
      type: 'cache.filled', v: 1, key, issuer: 'open', active: true, claims: { sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300, token_type: 'Bearer' },
      expiresAt: Date.now() + 60_000, origin: 'member-of-an-older-build',
    });
    const before = await Promise.all([A, B].map(async (p) => (await metric(p, 'portcullis_introspection_sync_fills_total', 'direction="received"')) + (await metric(p, 'portcullis_introspection_sync_fills_dropped_total'))));
    stand.nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, v1));
    await waitFor('both members to judge the fill', async () => {
      const now = await Promise.all([A, B].map(async (p) => (await metric(p, 'portcullis_introspection_sync_fills_total', 'direction="received"')) + (await metric(p, 'portcullis_introspection_sync_fills_dropped_total'))));
      return now[0]! > before[0]! && now[1]! > before[1]!;
    }, 10_000);
    expect(await status(A, '/open/x', token)).toBe(401);
    expect(askedFor(token)).toBe(1);
    expect(await metric(A, 'portcullis_introspection_sync_fills_dropped_total', 'reason="no_iss_v1"')).toBe(1);
  }, 30_000);
});
