// A revocation made at member A reaches what member B holds for the token, over a real nats-server:
// introspection answers B cached (opaque tokens revoked by issuer-scoped sub, by client_id), B's
// decision endpoint verdicts for a token it judged before, and a request B forwarded that still waits
// for its response head (a long poll: 401 at once, never the upstream's later answer).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { busSection, clusterMemberConfig, startMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { jtiOf } from '../ws/ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };

describe('a revocation at one member reaches every place another member holds the token', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: Server;
  let pollsHeld = 0; // long polls the upstream holds
  let A: ProxyProcess; let B: ProxyProcess;
  beforeAll(async () => {
    nats = await startNatsServer();
    as = await startAuthServer();
    up = createServer((req, res) => { if (req.url?.startsWith('/api/poll')) { pollsHeld++; setTimeout(() => { if (!res.destroyed) res.end('late answer'); }, 2500); } else res.end('ok'); });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const cfg = clusterMemberConfig({
      server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_auth', dialect: 'traefik' }] } },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET' } } },
      upstreams: { app: { targets: [`http://127.0.0.1:${(up.address() as AddressInfo).port}`] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {}, timeout_ms: 20000 }],
      cluster: busSection(nats.url, `reach${Date.now()}`),
    });
    [A, B] = await startMembers(2, cfg, ENV);
  });
  afterAll(async () => { await A?.stop(); await B?.stop(); await nats?.stop(); await as?.close(); up?.close(); });
  const call = async (p: ProxyProcess, t: string): Promise<number> => { const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${t}` } }); await r.body.dump(); return r.statusCode; };
  const decide = async (p: ProxyProcess, t: string): Promise<number> => { const r = await request(`${p.url}/_auth`, { headers: { authorization: `Bearer ${t}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/x', 'x-forwarded-host': 'h', 'x-forwarded-proto': 'http' } }); await r.body.dump(); return r.statusCode; };
  /** Ask until refused (at most 400 calls): the refusing status, or 200 when it never came. */
  async function firstRefusal(f: () => Promise<number>): Promise<number> {
    for (let i = 0; i < 400; i++) { const st = await f(); if (st !== 200) return st; }
    return 200;
  }
  it('opaque tokens B introspected and cached: revoked at A by issuer-scoped sub and by client_id, refused at B', async () => {
    const o1 = as.issueOpaque({ sub: 'op-sub', client_id: 'op-client-1' }, 600);
    const o2 = as.issueOpaque({ sub: 'op-other', client_id: 'op-client-2' }, 600);
    const keep = as.issueOpaque({ sub: 'op-keep', client_id: 'op-client-3' }, 600);
    for (const t of [o1, o2, keep]) for (const p of [A, B]) expect(await call(p, t)).toBe(200);
    const posted = admin(A, 'POST', '/revocations', { kind: 'sub', value: 'op-sub', issuer: as.issuer });
    expect(await firstRefusal(() => call(B, o1))).toBe(401);
    expect((await posted).status).toBe(201);
    const posted2 = admin(A, 'POST', '/revocations', { kind: 'client_id', value: 'op-client-2' });
    expect(await firstRefusal(() => call(B, o2))).toBe(401);
    expect((await posted2).status).toBe(201);
    expect(await call(B, keep)).toBe(200);
  });

  it('B\'s decision endpoint refuses a token it allowed before, once A revoked it (opaque by sub, JWT by jti)', async () => {
    const o = as.issueOpaque({ sub: 'op-decided' }, 600);
    const j = await as.issueJwt({ sub: 'jwt-decided' });
    for (const t of [o, j]) { expect(await decide(B, t)).toBe(200); expect(await decide(B, t)).toBe(200); }
    const p1 = admin(A, 'POST', '/revocations', { kind: 'sub', value: 'op-decided' });
    expect(await firstRefusal(() => decide(B, o))).toBe(401);
    const p2 = admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(j) });
    expect(await firstRefusal(() => decide(B, j))).toBe(401);
    expect([(await p1).status, (await p2).status]).toEqual([201, 201]);
  });

  it('a long poll B forwarded is answered 401 when A revokes its token, never with the upstream\'s later answer', async () => {
    const lp = await as.issueJwt({ sub: 'long-poller' });
    const pending = request(`${B.url}/api/poll`, { headers: { authorization: `Bearer ${lp}` } }).then(async (x) => ({ status: x.statusCode, body: await x.body.text() }));
    await waitFor('the upstream to hold the poll', async () => pollsHeld === 1, 10_000); // forwarded by B
    expect((await admin(A, 'POST', '/revocations', { kind: 'jti', value: jtiOf(lp) })).status).toBe(201);
    const got = await pending;
    expect(got.status).toBe(401);
    expect(got.body).not.toContain('late answer');
  });
});
