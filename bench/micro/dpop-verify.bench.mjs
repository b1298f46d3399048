// Micro-measure (not a test; vitest only runs *.test.ts): what one DPoP proof costs on the
// request path, in CPU µs (process.cpuUsage, robust on a shared machine), and the owner
// round trip of the cluster replay check over a real nats-server.
// Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/dpop-verify.bench.mjs`
// (env: N iterations, default 5000; NATS_URL of a running nats-server for the owner round trip).
import { availableParallelism, cpus } from 'node:os';
import { createHash, createPublicKey, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, calculateJwkThumbprint, compactVerify, importJWK } from 'jose';
import pino from 'pino';
import { ProofKeyCache, verifyProof, requestOrigin, DpopReplaySync, ReplayCache, ReplayGuard } from '../../dist/node/dpop/index.js';
import { Codec, MessageBus, NatsTransport, rendezvousOwner, subjects } from '../../dist/cluster/index.js';

const N = Number(process.env.N ?? 5000);
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';
const ath = createHash('sha256').update(TOKEN).digest('base64url');
const cpuUs = (f, n) => { const c0 = process.cpuUsage(); for (let i = 0; i < n; i++) f(i); const c = process.cpuUsage(c0); return (c.user + c.system) / n; };
const best = (f, n) => Math.min(...[0, 1, 2].map(() => cpuUs(f, n)));
const fmt = (x) => `${x.toFixed(1)} µs`;

console.log(`node ${process.version}, ${availableParallelism()} cpus (${cpus()[0]?.model}), N=${N}, best of 3, CPU time per proof`);
for (const alg of ['ES256', 'EdDSA', 'PS256', 'RS256']) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  const now = Math.floor(Date.now() / 1000);
  const proofs = await Promise.all(Array.from({ length: Math.min(N, 500) }, () =>
    new SignJWT({ jti: randomUUID(), htm: 'GET', htu: 'https://api.example/orders', iat: now, ath }).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk }).sign(privateKey)));
  const origin = requestOrigin('https', 'api.example');
  const settings = { algorithms: new Set(['ES256', 'EdDSA', 'PS256', 'RS256']), maxProofBytes: 8192, iatWindowS: 60, nowS: now };
  const warm = new ProofKeyCache();
  const req = (i) => ({ proof: proofs[i % proofs.length], method: 'GET', origin, path: '/orders', ath, jkt });
  for (let i = 0; i < 500; i++) if (!verifyProof(req(i), settings, warm).ok) throw new Error('proof refused');
  const full = best((i) => verifyProof(req(i), settings, warm), N);
  const cold = best((i) => verifyProof(req(i), settings, new ProofKeyCache()), Math.max(200, N / 10));
  const importOnly = best(() => createPublicKey({ key: jwk, format: 'jwk' }), Math.max(200, N / 10));
  const replay = new ReplayCache(1_000_000);
  const replayUs = best((i) => replay.claim(createHash('sha256').update(jkt).update('\n').update(`${i}-${Math.random()}`).digest('base64url'), now + 60, now), N);
  let c0 = process.cpuUsage();
  const M = Math.min(N, 1000);
  for (let i = 0; i < M; i++) await compactVerify(proofs[i % proofs.length], await importJWK(jwk, alg));
  let c = process.cpuUsage(c0);
  console.log(`  ${alg.padEnd(5)} verifyProof (key cached) ${fmt(full)} | key not cached ${fmt(cold)} (createPublicKey alone ${fmt(importOnly)}) | replay key+claim ${fmt(replayUs)} | jose importJWK+compactVerify ${fmt((c.user + c.system) / M)} (all threads)`);
}

const url = process.env.NATS_URL || undefined;
if (url === undefined) {
  console.log('  (owner round trip skipped: start `nats-server -a 127.0.0.1 -p 14222` and set NATS_URL=nats://127.0.0.1:14222)');
} else {
  {
    const logger = pino({ level: 'silent' });
    const mk = (self) => {
      const t = new NatsTransport({ connection: { servers: [url], name: self }, logger });
      t.start();
      const bus = new MessageBus(t, new Codec(), subjects('bench'));
      const sync = new DpopReplaySync({ bus, self, members: () => ['a', 'b'], pickOwner: rendezvousOwner, logger });
      const cache = new ReplayCache(1_000_000);
      return { t, guard: new ReplayGuard(cache, sync.attach(cache), 1000) };
    };
    const a = mk('a');
    const b = mk('b');
    while (!a.t.isConnected() || !b.t.isConnected()) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    const now = Math.floor(Date.now() / 1000);
    const keys = [];
    for (let i = 0; keys.length < 2000; i++) { const k = createHash('sha256').update(`k${i}`).digest('base64url'); if (rendezvousOwner(k, ['a', 'b']) === 'b') keys.push(k); }
    for (const k of keys.slice(0, 200)) await a.guard.check(k, now + 60, now);
    const lat = [];
    for (const k of keys.slice(200)) { const t0 = performance.now(); await a.guard.check(k, now + 60, now); lat.push((performance.now() - t0) * 1000); }
    lat.sort((x, y) => x - y);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(0);
    console.log(`  owner round trip over NATS (sequential, ${lat.length} claims): p50 ${q(0.5)} µs, p99 ${q(0.99)} µs, max ${q(1)} µs`);
    await Promise.all([a.t.close(), b.t.close()]);
  }
}
