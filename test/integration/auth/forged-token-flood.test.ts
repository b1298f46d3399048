// A flood of forged JWTs (a published kid, random signatures: each one costs a signature check) from one
// client must not keep another client's good tokens out of the verifier pool. Before, the pool was one
// FIFO for everybody: with the flooder's tokens filling it, a good client's fresh token was refused
// (pool_overloaded) or waited behind all of them past verifier.task_timeout_ms — 503 either way.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, waitReady, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, fixtureIssuer, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { fixtureKeys, jwksOf } from '../../fixtures/keys.js';
import { b64url, makeToken, accessClaims } from '../../fixtures/tokens.js';
import { waitFor } from '../../helpers/wait.js';

const k = fixtureKeys();
/**
 * A public RSA key at the largest sizes the proxy loads — an 8192-bit modulus (any odd number: a public key is not
 * checked for primality) and the largest 64-bit exponent, 2^64 − 1 (larger ones are refused at import) — that the
 * JWKS publishes: a signature check under it costs ~1 ms (~4× one at e = 65537), so the flooder's tokens keep the
 * one pool thread busy and its waiting places full whatever the machine — what a flood of cheap checks does on a busy
 * host. (With e = 65537 the pool drained faster than the test's flooders refilled it on a quiet host: the good tokens
 * found free places and nothing was preempted — CI.)
 */
const SLOW_KID = 'slow-8k';
const modulus = randomBytes(1024);
modulus[0] = 0xff;
modulus[modulus.length - 1]! |= 1;
const SLOW_JWK = { kty: 'RSA', n: modulus.toString('base64url'), e: Buffer.alloc(8, 0xff).toString('base64url'), kid: SLOW_KID, alg: 'RS256', use: 'sig' };

/** A forged token under the slow key: valid claims, a random signature below the modulus (so it is checked, and fails). */
function forged(): string {
  const sig = randomBytes(1024);
  sig[0] = 0x10;
  return `${b64url({ alg: 'RS256', typ: 'at+jwt', kid: SLOW_KID })}.${b64url(accessClaims())}.${sig.toString('base64url')}`;
}

/** Concurrent flooding connections: past the pool's 1024 waiting places (pool_size 1). */
const FLOODERS = 1100;
const FLOODER = '192.0.2.1';
const GOOD_CLIENT = '198.51.100.9';

let jwks: ScriptedUpstream;
let echo: EchoUpstream;
let proxy: ProxyProcess;
const floodAgent = new Agent({ connections: FLOODERS + 10, headersTimeout: 60_000 });
const goodAgent = new Agent({ connections: 4 });

beforeAll(async () => {
  jwks = await startScriptedUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [...jwksOf([k.RS256]).keys, SLOW_JWK] }));
  });
  echo = await startEchoUpstream();
  const base = baseConfig(echo.url);
  proxy = await startProxy({
    ...base,
    // the client is the X-Forwarded-For entry: the test's two clients share 127.0.0.1
    server: { ...(base.server as object), trust_forwarded: true, trusted_hops: 1 },
    issuers: { main: fixtureIssuer(jwks.url) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
    // every check on the pool's one thread. Now a good token waits for at most two batches of 32 slow checks
    // (~0.1–0.4 s, well inside 2.5 s even on a loaded host); before, it was refused at once (the flood keeps the
    // 1024 places taken) or waited behind ~1000 of them (2–6 s)
    verifier: { mode: 'pool', pool_size: 1, task_timeout_ms: 2_500 },
    log: { level: 'warn', access: false },
  });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([floodAgent.close(), goodAgent.close(), jwks?.close(), echo?.close()]);
});

const get = async (token: string, client: string, dispatcher: Agent): Promise<number> => {
  const r = await request(`${proxy.url}/orders/1`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': client }, dispatcher });
  await r.body.dump();
  return r.statusCode;
};

const stats = async (): Promise<Record<string, number>> => {
  const r = await request(`${proxy.adminUrl}/cache/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await r.body.json()) as Record<string, number>;
};

describe('a flood of forged JWTs from one client', () => {
  it('leaves another client\'s fresh tokens verified (200) while the pool queue is full of the flood', async () => {
    // the good client's token verifies before the flood: the route, key and client work
    expect(await get(makeToken(k.RS256), GOOD_CLIENT, goodAgent)).toBe(200);

    let flooding = true;
    const floodStatuses = new Map<number, number>();
    const flooder = async (): Promise<void> => {
      while (flooding) {
        const s = await get(forged(), FLOODER, floodAgent).catch(() => 0);
        floodStatuses.set(s, (floodStatuses.get(s) ?? 0) + 1);
      }
    };
    const floods = Array.from({ length: FLOODERS }, flooder);
    try {
      // the flood fills the pool's waiting places (1024 for one thread)
      await waitFor('the pool queue full of forged tokens', async () => (await stats())['jwt.pool_queue']! >= 1000, 60_000);
      const good: number[] = [];
      for (let i = 0; i < 5; i++) good.push(await get(makeToken(k.RS256, { claims: { jti: `good-${i}` } }), GOOD_CLIENT, goodAgent));
      expect(good, 'the good client\'s fresh tokens during the flood').toEqual([200, 200, 200, 200, 200]);
    } finally {
      flooding = false;
      await Promise.all(floods);
    }
    // nothing forged got through; the flood's own excess was refused (503), its checked tokens 401
    expect(floodStatuses.get(200) ?? 0).toBe(0);
    expect([...floodStatuses.keys()].every((s) => s === 401 || s === 503), JSON.stringify([...floodStatuses])).toBe(true);
    const s = await stats();
    expect(s['jwt.pool_preempted'], 'flood tokens that made room for the good ones').toBeGreaterThanOrEqual(1);
  }, 120_000);
});
