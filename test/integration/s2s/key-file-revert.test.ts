// Rolling a key file back: `internal_tokens.key_file` A replaced by B and reloaded, then A put
// back and reloaded (a botched or leaked B) must sign with A again. Before, the second reload
// found A still in the ring (published until its tokens expire) and did nothing: B went on signing
// — for good, with the file naming A — and after a restart only A was published, so the tokens B
// had signed stopped verifying. Now A signs again at once (never unpublished, every cached JWKS
// still holds it) and B stays published only until the tokens it signed have expired.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';
import { adminPost, call, sleep, startVerifyingUpstream, waitReady, type VerifyingUpstream, internalTokenConfig, ecPem } from './s2s-fixtures.js';

const ISS = 'https://portcullis.test';

let as: AuthServer;
let upstream: VerifyingUpstream;
let proxy: ProxyProcess;
let keyFile = '';
const keyA = ecPem();
const keyB = ecPem();

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
  keyFile = join(tempDir('portcullis-key-revert-'), 'internal.pem');
  writeFileSync(keyFile, keyA, { mode: 0o600 });
  const file = writeConfig(internalTokenConfig(as, upstream.url, { issuer: ISS, key_file: keyFile, max_ttl_s: 60, publish_ahead_s: 2 }));
  proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
  await waitReady(proxy);
  // the upstream keeps the JWKS 1.5 s (under publish_ahead_s, as its max-age asks): it never refetches for an unknown kid
  upstream.trust(`${proxy.url}/.well-known/jwks.json`, ISS, 'orders', { cacheMaxAgeMs: 1_500 });
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), upstream?.close()]);
});

/** The kid of the internal token minted for a fresh inbound token, as the upstream verified it. */
async function signingKid(sub: string): Promise<string> {
  const r = await call(`${proxy.url}/orders/1`, { token: await as.issueJwt({ sub }) });
  expect(r.status, r.text).toBe(200);
  return r.json.kid as string;
}
const publishedKids = async (): Promise<string[]> => (await call(`${proxy.url}/.well-known/jwks.json`)).json.keys.map((k: { kid: string }) => k.kid);

describe('internal_tokens.key_file rolled back to the previous key', () => {
  it('A → B → A: A signs again after the second reload; B stays published for the tokens it signed', async () => {
    const kidA = await signingKid('u1');
    expect(await publishedKids()).toEqual([kidA]);

    writeFileSync(keyFile, keyB);
    expect((await adminPost(proxy, '/reload', {})).status).toBe(200);
    const kidB = (await publishedKids()).find((k) => k !== kidA)!;
    expect(kidB).toBeDefined();
    await sleep(2_300); // publish_ahead_s (2 s)
    expect(await signingKid('u2')).toBe(kidB);
    const signedByB = upstream.received.at(-1)!.token!;

    writeFileSync(keyFile, keyA);
    expect((await adminPost(proxy, '/reload', {})).status).toBe(200);
    await sleep(2_300);
    expect(await signingKid('u3')).toBe(kidA);
    expect(new Set(await publishedKids())).toEqual(new Set([kidA, kidB]));
    expect((await upstream.verify(signedByB))?.kid).toBe(kidB);
  }, 30_000);

  it('its kid revoked, a key_file answers 503 until a new key is put in the file and reloaded; the revoked key never comes back', async () => {
    const kidA = await signingKid('u4');
    expect((await adminPost(proxy, '/revocations', { kind: 'kid', value: kidA })).status).toBe(201);
    const refused = await call(`${proxy.url}/orders/1`, { token: await as.issueJwt({ sub: 'u5' }) });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(await publishedKids()).not.toContain(kidA);
    // log lines reach the test asynchronously, after the answers: waited for, then asserted
    const named = (): boolean => proxy.logs().some((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.includes('internal_tokens.key_file holds a new key'));
    await waitFor('the error line naming internal_tokens.key_file', named, 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(named()).toBe(true);

    const keyC = ecPem();
    writeFileSync(keyFile, keyC);
    expect((await adminPost(proxy, '/reload', {})).status).toBe(200);
    // signs at once (nothing signed meanwhile); this upstream takes it once its cached JWKS (1.5 s) expires
    let kidC = '';
    await waitFor('the new key signs and verifies', async () => {
      const r = await call(`${proxy.url}/orders/1`, { token: await as.issueJwt({ sub: 'u6' }) });
      kidC = r.status === 200 ? r.json.kid as string : '';
      return r.status === 200;
    }, 10_000);
    expect(kidC).not.toBe(kidA);
    expect(await publishedKids()).not.toContain(kidA);

    // the revoked key put back in the file: not installed again, the key in use goes on signing
    writeFileSync(keyFile, keyA);
    expect((await adminPost(proxy, '/reload', {})).status).toBe(200);
    expect(await signingKid('u7')).toBe(kidC);
    expect(await publishedKids()).not.toContain(kidA);
  }, 30_000);
});
