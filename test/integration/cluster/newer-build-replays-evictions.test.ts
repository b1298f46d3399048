// Rolling upgrade beyond revocations: a newer build's DPoP replay record and introspection eviction,
// authentic under the bus key but unreadable here. Dropped silently, a proof used at the newer member
// passed again here, and a logged-out token stayed served from the cache; both now fail closed, narrowly.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { BusAuth } from '../../../cluster/protocol/index.js';
import { clusterMemberConfig } from '../../helpers/cluster-members.js';
import { ADMIN_ENV, BUS_ENV, BUS_KEY, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { clientKey, proof } from '../../unit/dpop/dpop-helpers.js';
import { busStand } from './bus-stand.js';
import { nextBuildMessage } from './next-build.js';
import { metric } from './proxy-fixtures.js';

const prefix = `pnr${Math.random().toString(36).slice(2, 8)}`;
const stand = busStand({ prefix, client: true });

async function member(): Promise<ProxyProcess> {
  const p = stand.track(await startProxy(clusterMemberConfig({
    issuers: {
      demo: {
        issuer: stand.as.issuer, audiences: ['portcullis-demo'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 120 },
      },
    },
    upstreams: { app: { targets: [stand.echo.url] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }], // DPoP iat window: the default 60 s
    cluster: stand.cluster(),
  }), { env: { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' } }));
  await waitReady(p);
  return p;
}

/** Publish `msg` as the newer build's member would: sealed with the cluster's key. */
async function fromNextBuild(subject: string, msg: Record<string, unknown>, sameRecord = false): Promise<void> {
  stand.nc.publish(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, nextBuildMessage(msg, sameRecord)));
  await stand.nc.flush();
}

async function send(p: ProxyProcess, headers: Record<string, string>): Promise<{ status: number; retryAfter: string | undefined }> {
  const r = await request(`${p.url}/api/x`, { headers: { ...headers, connection: 'close' } });
  await r.body.dump();
  return { status: r.statusCode, retryAfter: r.headers['retry-after'] as string | undefined };
}

const dropped = (p: ProxyProcess): Promise<number> => metric(p, 'portcullis_bus_messages_dropped_total');
/** `p`'s log lines starting with `msg`. */
const logged = (p: ProxyProcess, msg: string): number => p.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith(msg)).length;

describe('rolling upgrade: DPoP replay records and cache evictions from a newer build', () => {
  it('a proof the newer build recorded is not accepted again here: proofs it could be answer 503, proofs dated past its window pass', async () => {
    const A = await member();
    const key = await clientKey('ES256');
    const token = await stand.as.issueJwt({ cnf: { jkt: key.jkt } });
    const htu = `${A.url}/api/x`;
    expect((await send(A, { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token }) })).status).toBe(200);

    // the client used this proof at a newer member, which recorded it in words this build cannot read
    const used = await proof(key, { htu, token, jti: 'used-at-the-newer-member' });
    const before = await dropped(A);
    await fromNextBuild(`${prefix}.dpop.seen`, {
      type: 'dpop.seen', v: 2, key: createHash('sha256').update(key.jkt).update('\n').update('used-at-the-newer-member').digest('base64url'),
      expiresAt: Math.floor(Date.now() / 1000) + 60, origin: 'next-build-member', binding: 'jkt',
    });
    await waitFor('the record reached A', async () => (await dropped(A)) > before, 10_000);

    // before: 200 — the replay passed here
    const replay = await send(A, { authorization: `DPoP ${token}`, dpop: used });
    expect(replay.status).toBe(503);
    expect(Number(replay.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(await metric(A, 'portcullis_bus_unreadable_failed_closed_total', 'reason="dpop_replay"')).toBe(1);
    expect(await metric(A, 'portcullis_dpop_replay_unreadable_refused_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(A, 'portcullis_dpop_replays_unreadable')).toBe(1);
    expect((await send(A, { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token }) })).status).toBe(503); // dated now: could be it
    // the gate is narrow: a Bearer token passes meanwhile, and so does a proof dated past anything the newer
    // member can have accepted before it signed the record (its iat + the 60 s window + 1 s): clients minting
    // proofs now pass once that much time went by, without waiting for an expiry
    const plain = await stand.as.issueJwt({ sub: 'plain' });
    expect((await send(A, { authorization: `Bearer ${plain}` })).status).toBe(200);
    const ahead = async (): Promise<number> => (await send(A, { authorization: `DPoP ${token}`, dpop: await proof(key, { htu, token, iat: Math.floor(Date.now() / 1000) + 59 }) })).status;
    await waitFor('a proof dated past the window passes', async () => (await ahead()) === 200, 10_000);
    expect((await send(A, { authorization: `DPoP ${token}`, dpop: used })).status).toBe(503);
    // log lines reach the test asynchronously, after the answers and metrics: waited for, then counted
    await waitFor('the unreadable record logged', () => logged(A, 'DPoP replay record this build cannot read') > 0, 5_000);
    expect(logged(A, 'DPoP replay record this build cannot read')).toBe(1);
  }, 60_000);

  it('an eviction the newer build sent drops the cached introspection results here; an unreadable fill does not', async () => {
    const A = await member();
    const token = stand.as.issueOpaque({ sub: 'lea' }, 600);
    expect((await send(A, { authorization: `Bearer ${token}` })).status).toBe(200);
    stand.as.revokeOpaque(token); // the user logged out: the authorization server says inactive from now on
    expect((await send(A, { authorization: `Bearer ${token}` })).status).toBe(200); // served from the cache (120 s)

    // a fill in a newer version (same fields, so its type is readable): a lost fill is a cache miss at most, nothing is dropped for it
    const keyHex = createHash('sha256').update(token).digest('hex');
    let before = await dropped(A);
    await fromNextBuild(`${prefix}.cache.introspection`, { type: 'cache.filled', v: 2, key: keyHex, issuer: 'demo', active: false, claims: null, expiresAt: Date.now() + 5_000, origin: 'next-build-member' }, true);
    await waitFor('the fill reached A', async () => (await dropped(A)) > before, 10_000);
    expect(await metric(A, 'portcullis_bus_unreadable_failed_closed_total', 'reason="cache_drop"')).toBe(0);

    before = await dropped(A);
    await fromNextBuild(`${prefix}.cache.introspection`, { type: 'cache.evicted', v: 2, key: keyHex, origin: 'next-build-member', reason: 'logout' });
    await waitFor('the eviction reached A', async () => (await dropped(A)) > before, 10_000);
    // before: 200 until the cached result's TTL ran out
    expect((await send(A, { authorization: `Bearer ${token}` })).status).toBe(401);
    expect(await metric(A, 'portcullis_bus_unreadable_failed_closed_total', 'reason="cache_drop"')).toBe(1);
    await waitFor('the unreadable message logged', () => logged(A, 'introspection cache message this build cannot read') > 0, 5_000);
    expect(logged(A, 'introspection cache message this build cannot read')).toBe(1);
  }, 60_000);
});
