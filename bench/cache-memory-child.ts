// The memory half of DESIGN §6 ("≥ 1,000,000 cached tokens in ≤ 1 GiB per process; no
// growth"), measured on the product's own path: a JwtVerifier (JWKS fetched over HTTP,
// piscina pool, the verified-token cache) verifies N distinct EdDSA tokens with realistic
// claims, then three passes of N/2 more so the full cache churns through eviction. Memory is
// read after a forced GC: before, when full, and after each churn pass. Run by cache-memory.bench.ts in its
// own process (`node dist/bench/cache-memory-child.js --tokens N`), which
// prints one JSON line; tokens are made and dropped in batches, so only the cache holds them.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { issuerSchema } from '../node/config/schema.js';
import { JwtVerifier } from '../node/jwt/index.js';

export interface MemorySample {
  /** V8 heap in use after a full GC, bytes. */
  heapUsed: number;
  /** V8 heap reserved (committed), bytes. */
  heapTotal: number;
  /** Off-heap memory owned by JS objects (Buffers, ArrayBuffers), bytes. */
  external: number;
  rss: number;
}

export interface CacheMemoryResult {
  tokens: number;
  churnTokens: number;
  poolSize: number;
  cacheEntriesFull: number;
  cacheEntriesAfterChurn: number;
  /** Distinct tokens per churn pass (N/2). */
  churnPassTokens: number;
  /** The cache's own size estimate (what `verifier.cache_bytes` bounds). */
  cacheBytesEstimate: number;
  before: MemorySample;
  full: MemorySample;
  /** After each churn pass. */
  churn: MemorySample[];
  /** Verifications per second while filling (pool at `poolSize`, 256 in flight). */
  fillTokensPerS: number;
}

const ISSUER = 'https://auth.example.com/realms/portcullis';
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

// --expose-gc on the command line would reach the pool's workers, which refuse it
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function sample(): MemorySample {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss };
}

/** A token shaped like what an authorization server issues for a service call. */
function token(key: KeyObject, kid: string, now: number, i: number): string {
  const header = b64({ alg: 'EdDSA', typ: 'at+jwt', kid });
  const payload = b64({
    iss: ISSUER, sub: `user-${i}`, aud: 'orders', client_id: `client-${i % 500}`,
    scope: 'orders:read orders:write profile', iat: now, exp: now + 3600, jti: randomUUID(),
  });
  const input = `${header}.${payload}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { tokens: { type: 'string', default: '1000000' }, pool: { type: 'string', default: '2' }, passes: { type: 'string', default: '3' } } });
  const CHURN_PASSES = Number(values.passes);
  const n = Number(values.tokens);
  const poolSize = Number(values.pool);
  if (!Number.isInteger(n) || n < 1000) throw new Error(`--tokens: expected an integer ≥ 1000, got ${values.tokens}`);

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = 'bench-1';
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' }] });
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(jwks); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;

  const verifier = new JwtVerifier({
    issuers: { bench: issuerSchema.parse({ issuer: ISSUER, jwks_uri: `http://127.0.0.1:${port}/jwks`, audiences: ['orders'], algorithms: ['EdDSA'] }) },
    poolSize,
    cacheEntries: n,
    cacheBytes: 4 * 2 ** 30, // not the bound here: entries are; the estimate is reported
    cacheMaxTtlS: 3600,
    logger: pino({ level: 'silent' }),
  });
  verifier.start();
  if (!(await verifier.whenReady(10_000))) throw new Error('JWKS not loaded within 10 s');

  const before = sample();
  const now = Math.floor(Date.now() / 1000);
  const run = async (from: number, to: number): Promise<number> => {
    const t0 = performance.now();
    const BATCH = 256; // in flight: well under the pool's queue bound
    for (let start = from; start < to; start += BATCH) {
      const batch: Array<ReturnType<JwtVerifier['verify']>> = [];
      for (let i = start; i < Math.min(to, start + BATCH); i++) batch.push(verifier.verify(token(privateKey, kid, now, i), null));
      for (const o of await Promise.all(batch)) if (!o.ok) throw new Error(`verification failed: ${o.reason}`);
    }
    return (to - from) / ((performance.now() - t0) / 1000);
  };
  const fillTokensPerS = await run(0, n);
  const full = sample();
  const statsFull = verifier.stats();
  const pass = Math.floor(n / 2);
  const churn: MemorySample[] = [];
  for (let p = 0; p < CHURN_PASSES; p++) {
    await run(n + p * pass, n + (p + 1) * pass);
    churn.push(sample());
  }
  const statsChurn = verifier.stats();
  const result: CacheMemoryResult = {
    tokens: n, churnTokens: pass * CHURN_PASSES, churnPassTokens: pass, poolSize,
    cacheEntriesFull: statsFull.cache_entries!, cacheEntriesAfterChurn: statsChurn.cache_entries!,
    cacheBytesEstimate: statsFull.cache_bytes!, before, full, churn, fillTokensPerS,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await verifier.close();
  server.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`cache-memory: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
