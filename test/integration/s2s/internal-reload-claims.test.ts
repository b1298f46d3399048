// A reload that changes what minted tokens carry — a claim taken out of `internal_tokens.claims`,
// another `issuer`, a shorter `max_ttl_s` — applies to the next request. Before, the token minted
// for an inbound token before the reload was reused until shortly before its exp: the upstream went
// on receiving the removed claim (an operator taking out a claim that leaked data), the old `iss`
// (refused by an upstream already switched to the new one) and the old lifetime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, startVerifyingUpstream, waitReady, type VerifyingUpstream, internalTokenConfig } from './s2s-fixtures.js';

let as: AuthServer;
let upstream: VerifyingUpstream;
let proxy: ProxyProcess;

function config(internal: Record<string, unknown>): Record<string, unknown> {
  return internalTokenConfig(as, upstream.url, internal);
}

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
  proxy = await startProxy(config({ issuer: 'https://old.portcullis.test', max_ttl_s: 600, claims: ['tenant', 'email'] }), { env: ADMIN_ENV });
  await waitReady(proxy);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), upstream?.close()]);
});

/** The claims of the internal token the upstream received for `inbound`. */
async function minted(inbound: string): Promise<Record<string, unknown>> {
  const before = upstream.received.length;
  const r = await call(`${proxy.url}/orders/1`, { token: inbound });
  expect(r.status, r.text).toBe(200);
  expect(upstream.received.length).toBe(before + 1);
  const t = upstream.received.at(-1)!.token!;
  return JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

describe('a reload changes the next minted token, cached or not', () => {
  it('a removed claim, a new issuer and a shorter lifetime reach the upstream at the next request with the same inbound token', async () => {
    const inbound = await as.issueJwt({ sub: 'alice', tenant: 'acme', email: 'alice@example.com' }, { ttlSeconds: 3600 });
    const a = await minted(inbound);
    expect(a).toMatchObject({ iss: 'https://old.portcullis.test', tenant: 'acme', email: 'alice@example.com' });
    expect(await minted(inbound)).toEqual(a); // reused from the cache

    await reloadWith(proxy, config({ issuer: 'https://new.portcullis.test', max_ttl_s: 60, claims: ['tenant'] }));
    const b = await minted(inbound);
    expect(b.email).toBeUndefined();
    expect(b).toMatchObject({ iss: 'https://new.portcullis.test', tenant: 'acme', sub: 'alice' });
    expect((b.exp as number) - (b.iat as number)).toBeLessThanOrEqual(60);
  });

  it('a reload that changes none of them keeps reusing the minted token', async () => {
    const inbound = await as.issueJwt({ sub: 'bob', tenant: 'acme' }, { ttlSeconds: 3600 });
    const a = await minted(inbound);
    await reloadWith(proxy, { ...config({ issuer: 'https://new.portcullis.test', max_ttl_s: 60, claims: ['tenant'] }), log: { level: 'warn', access: true } });
    expect(await minted(inbound)).toEqual(a);
  });
});
