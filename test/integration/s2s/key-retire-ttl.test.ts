// A key rotation in the same reload that lowers `internal_tokens.max_ttl_s`: the old key must stay
// published until the tokens it signed under the old, longer lifetime have expired. Before, its
// retirement was counted with the new lifetime (1 s here, +5 s), so a token it had minted for an hour
// stopped verifying at the upstream (or wherever the upstream passed it on) minutes into its life.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { call, sleep, startVerifyingUpstream, waitReady, type VerifyingUpstream, internalTokenConfig, ecPem } from './s2s-fixtures.js';

const ISS = 'https://portcullis.test';

let as: AuthServer;
let upstream: VerifyingUpstream;
let proxy: ProxyProcess;
let keyFile = '';

function config(maxTtlS: number): Record<string, unknown> {
  return internalTokenConfig(as, upstream.url, { issuer: ISS, key_file: keyFile, max_ttl_s: maxTtlS, publish_ahead_s: 1 });
}

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
  keyFile = join(tempDir('portcullis-key-ttl-'), 'internal.pem');
  writeFileSync(keyFile, ecPem(), { mode: 0o600 });
  proxy = await startProxy(config(3600), { env: ADMIN_ENV });
  await waitReady(proxy);
  // JWKS kept 0.5 s (under publish_ahead_s): a retired key is noticed at the next fetch
  upstream.trust(`${proxy.url}/.well-known/jwks.json`, ISS, 'orders', { cacheMaxAgeMs: 500 });
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), upstream?.close()]);
});

describe('old key retirement when a reload rotates the key and shortens max_ttl_s', () => {
  it('a token the old key minted for an hour still verifies after the new lifetime (+5 s) has passed', async () => {
    const inbound = await as.issueJwt({ sub: 'alice' }, { ttlSeconds: 3600 });
    const first = await call(`${proxy.url}/orders/1`, { token: inbound });
    expect(first.status, first.text).toBe(200);
    const oldKid = first.json.kid as string;
    expect(first.json.claims.exp - first.json.claims.iat).toBeGreaterThan(3_500); // min(inbound exp, now + 3600 s)
    const minted = upstream.received.at(-1)!.token!;

    writeFileSync(keyFile, ecPem());
    await reloadWith(proxy, config(1));
    await sleep(1_000 + 1_000 + 5_000 + 1_500); // publish_ahead_s + the new max_ttl_s + 5 s slack, and a JWKS refetch
    const kids = (await call(`${proxy.url}/.well-known/jwks.json`)).json.keys.map((k: { kid: string }) => k.kid);
    expect(kids).toContain(oldKid);
    // the upstream verifies again, with a fresh JWKS, the token it received before the reload
    expect((await upstream.verify(minted))?.kid).toBe(oldKid);
    // the same inbound token now gets a token from the new key with the new lifetime
    const again = await call(`${proxy.url}/orders/2`, { token: inbound });
    expect(again.status, again.text).toBe(200);
    expect(again.json.kid).not.toBe(oldKid);
    expect(again.json.claims.exp - again.json.claims.iat).toBeLessThanOrEqual(1);
  }, 40_000);
});
