// A verified-token cache configured larger than the process's V8 heap (`verifier.cache_bytes: 1 GiB`
// under `node --max-old-space-size=32`): distinct valid tokens must make it evict, never end the process
// with an out-of-memory error (before: it took cache_bytes as written and died once the heap was full) —
// also when `--max-semi-space-size` makes the young generation larger than Node's default 48 MiB (before:
// counted as 48 MiB, the cache got the whole old space), and when V8 rounds the size written up to a power of two.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { makeKey, jwksOf } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { startProxy, baseConfig, waitReady, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { metrics, sample } from './tokens-helpers.js';

const key = makeKey('EdDSA');
const PAD = 'p'.repeat(11_000); // ~11 KB of claims per token (a token is at most 16 KiB): the bound is reached in ~1,000 tokens
const HEAP_MB = 32;

// 20: V8 rounds a semi-space up to a power of two (32 MiB each); before, 20 was counted and the bound was 26 MiB
for (const semiSpace of [[], [`--max-semi-space-size=${HEAP_MB}`], ['--max-semi-space-size=20']]) {
  describe(`verifier.cache_bytes over the V8 heap limit${semiSpace.length > 0 ? `, ${semiSpace.join(' ')}` : ''}`, () => {
    let echo: EchoUpstream;
    let jwks: Server;
    let proxy: ProxyProcess;

    beforeAll(async () => {
      echo = await startEchoUpstream();
      jwks = createServer((_q, r) => { r.setHeader('content-type', 'application/json'); r.end(JSON.stringify(jwksOf([key]))); });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
      proxy = await startProxy(baseConfig(echo.url, {
        server: { listen: { host: '127.0.0.1', port: 0 }, limits: { max_header_bytes: 32 * 1024 } },
        issuers: { test: { issuer: TEST_ISSUER, discovery: false, jwks_uri: jwksUri, audiences: [TEST_AUDIENCE], algorithms: ['EdDSA'] } },
        verifier: { cache_entries: 1_000_000, cache_bytes: 1024 * 1024 * 1024 },
        routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: {} }],
        log: { level: 'info', access: false },
      }), { nodeArgs: [`--max-old-space-size=${HEAP_MB}`, ...semiSpace] });
      await waitReady(proxy);
    });

    afterAll(async () => {
      await proxy?.stop();
      await echo?.close();
      await new Promise((resolve) => jwks?.close(resolve));
    });

    it('warns at start, holds the cache to a share of the heap and evicts instead of running out of memory', async () => {
      const warning = proxy.logs().find((l) => l.path === 'verifier.cache_bytes');
      expect(warning?.level, 'a warning naming verifier.cache_bytes').toBe(40);
      const bound = Number(warning?.bound);
      expect(bound, 'at most half of the old space beside the proxy\'s own 16 MiB').toBeLessThanOrEqual(((HEAP_MB - 16) * 1024 * 1024) / 2);
      expect(bound).toBeGreaterThan(0);
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_jwt_cache_max_bytes')).toBe(bound);

      // distinct valid tokens worth 1.3 times the bound (each cached as ~11 KB of claims)
      const count = Math.ceil((1.3 * bound) / PAD.length);
      const pool = new Pool(proxy.url, { connections: 8 });
      const statuses = new Map<number | string, number>();
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < count) {
          next++;
          const token = makeToken(key, { claims: { pad: PAD } });
          const status = await pool.request({ path: '/x', method: 'GET', headers: { authorization: `Bearer ${token}` } })
            .then(async (r) => { await r.body.dump(); return r.statusCode as number | string; }, (err: NodeJS.ErrnoException) => err.code ?? 'error');
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }));
      await pool.close();

      expect(Object.fromEntries(statuses), 'every token answered 200').toEqual({ 200: count });
      expect(proxy.proc.exitCode, 'the proxy is still running').toBeNull();
      const m = await metrics(proxy, ADMIN_TOKEN);
      expect(sample(m, 'portcullis_jwt_cache_removals_total{reason="evicted"}')).toBeGreaterThan(0);
      expect(sample(m, 'portcullis_jwt_cache_bytes')).toBeLessThanOrEqual(bound);
    });
  });
}
