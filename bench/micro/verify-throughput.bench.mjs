// Micro-measure (not a test; vitest only runs *.test.ts): distinct-token verifications/s
// inline on the main thread (jose / node:crypto) vs through JwtVerifier's pool, per
// engine and batch size, cache off. Build first: `npx tsc -p tsconfig.json`, then
// `node bench/micro/verify-throughput.bench.mjs` (env: N, CONC, REPS, POOL, CTPW, CONFIGS=engine:maxBatch,…).
import { createServer } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import { generateKeyPairSync, sign, randomBytes, createPublicKey, verify as cverify } from 'node:crypto';
import { importJWK, compactVerify } from 'jose';
import pino from 'pino';
import { JwtVerifier } from '../../dist/node/jwt/index.js';
import { issuerSchema } from '../../dist/node/config/schema.js';

const ISS = 'https://bench.test';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function mk(alg) {
  const kp = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...kp, jwk: { ...kp.publicKey.export({ format: 'jwk' }), kid: alg, alg, use: 'sig' }, alg };
}
function token(key) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: key.alg, typ: 'at+jwt', kid: key.alg })}.${b64({ iss: ISS, aud: 'api', sub: 'u' + randomBytes(4).toString('hex'), scope: 'orders:read orders:write', client_id: 'web', jti: randomBytes(8).toString('hex'), iat: now, exp: now + 3600 })}`;
  const sig = key.alg === 'RS256' ? sign('sha256', Buffer.from(input), key.privateKey) : sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}
const keys = { RS256: mk('RS256'), ES256: mk('ES256') };
const srv = createServer((_q, r) => { r.end(JSON.stringify({ keys: Object.values(keys).map((k) => k.jwk) })); });
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const jwksUri = `http://127.0.0.1:${srv.address().port}/jwks`;
const N = Number(process.env.N ?? 20000), CONC = Number(process.env.CONC ?? 256), REPS = Number(process.env.REPS ?? 3);
let mainUs = 0; // main-thread busy time per token in the last drive (event-loop utilisation × wall time / N)
async function drive(fn, tokens) {
  let i = 0; const t0 = performance.now(); const e0 = performance.eventLoopUtilization();
  await Promise.all(Array.from({ length: CONC }, async () => { while (i < tokens.length) { const r = await fn(tokens[i++]); if (r === false || r?.ok === false) throw new Error(JSON.stringify(r)); } }));
  const ms = performance.now() - t0;
  mainUs = (performance.eventLoopUtilization(e0).active * 1000) / tokens.length;
  return tokens.length / (ms / 1000);
}
const best = async (f) => { let b = 0, us = 0; for (let r = 0; r < REPS; r++) { const x = await f(); if (x > b) { b = x; us = mainUs; } } mainUs = us; return b; };
const configs = (process.env.CONFIGS ?? 'node:32,node:1,jose:32,jose:1').split(',').map((c) => c.split(':'));
console.log(`node ${process.version}, ${availableParallelism()} cpus (${cpus()[0]?.model}), ${N} distinct tokens, ${CONC} concurrent, best of ${REPS}`);
for (const alg of ['RS256', 'ES256']) {
  const k = keys[alg];
  const tokens = Array.from({ length: N }, () => token(k));
  const ck = await importJWK(k.jwk, alg);
  const ko = createPublicKey({ key: k.jwk, format: 'jwk' });
  const row = (x, what) => console.log(Math.round(x).toString().padStart(7), '/s', mainUs.toFixed(1).padStart(5), 'µs main/token', alg, what);
  row(await best(() => drive((t) => compactVerify(t, ck), tokens)), 'inline jose compactVerify (main thread; WebCrypto jobs on the libuv threadpool)');
  row(await best(() => drive(async (t) => { const d = t.lastIndexOf('.'); return cverify('sha256', Buffer.from(t.slice(0, d)), alg === 'ES256' ? { key: ko, dsaEncoding: 'ieee-p1363' } : ko, Buffer.from(t.slice(d + 1), 'base64url')); }, tokens)), 'inline node:crypto verify (main thread, blocks the loop)');
  for (const [engine, batch] of configs) {
    const v = new JwtVerifier({
      issuers: { b: issuerSchema.parse({ issuer: ISS, jwks_uri: jwksUri, audiences: ['api'], algorithms: ['RS256', 'ES256'] }) },
      poolSize: process.env.POOL === undefined ? 'auto' : Number(process.env.POOL), cacheEntries: 0, cacheBytes: 0, logger: pino({ level: 'silent' }),
      engine, maxBatch: Number(batch), concurrentTasksPerWorker: process.env.CTPW === undefined ? undefined : Number(process.env.CTPW),
    });
    v.start(); await v.whenReady(5000);
    await drive((t) => v.verify(t, null), tokens.slice(0, 3000));
    const r = await best(() => drive((t) => v.verify(t, null), tokens));
    const st = v.stats();
    row(r, `JwtVerifier pool=${st.pool_size} engine=${engine} maxBatch=${batch} (avg batch ${(st.pool_tasks / st.pool_batches).toFixed(1)}, avg ${(st.pool_task_ms_sum / st.pool_tasks).toFixed(2)} ms/token in pool)`);
    await v.close();
  }
}
srv.close();
