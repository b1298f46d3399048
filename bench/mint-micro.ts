// In-process, no HTTP: what one internal-token signature costs the event loop, inline vs on the
// signing worker thread (node/s2s token-signer), for a lone mint (one at a time) and a burst
// (many in one event-loop turn, batched to the worker). Event-loop time is measured with
// eventLoopUtilization (active time of this thread), so the worker's own CPU is not counted.
import { performance } from 'node:perf_hooks';
import { signingInput } from '../node/s2s/jws-sign.js';
import { KeyRing, generateKeySync, type InternalAlg } from '../node/s2s/key-ring.js';
import { InlineSigner, ThreadSigner, type TokenSigner } from '../node/s2s/token-signer.js';
import { cell, markdownTable } from './results.js';

export interface MintMicroRow { alg: InternalAlg; signing: 'inline' | 'worker'; loneLoopUs: number; loneWallUs: number; burstLoopUs: number; burstWallUs: number }
export interface MintMicroResult { lone: number; burst: number; rows: MintMicroRow[] }

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function measure(signer: TokenSigner, sign: () => unknown, lone: number, burst: number): Promise<{ loneLoopUs: number; loneWallUs: number; burstLoopUs: number; burstWallUs: number }> {
  for (let i = 0; i < 200; i++) { await sign(); await tick(); } // warm up (JIT, key import in the worker)
  let loneLoopUs = Infinity;
  let loneWallUs = Infinity;
  let burstLoopUs = Infinity;
  let burstWallUs = Infinity;
  for (let rep = 0; rep < 3; rep++) { // best of 3: other processes only ever add time
    let e0 = performance.eventLoopUtilization();
    let t0 = performance.now();
    for (let i = 0; i < lone; i++) { await sign(); await tick(); }
    let e = performance.eventLoopUtilization(e0);
    loneLoopUs = Math.min(loneLoopUs, (e.active * 1000) / lone);
    loneWallUs = Math.min(loneWallUs, ((performance.now() - t0) * 1000) / lone);
    e0 = performance.eventLoopUtilization();
    t0 = performance.now();
    await Promise.all(Array.from({ length: burst }, sign));
    e = performance.eventLoopUtilization(e0);
    burstLoopUs = Math.min(burstLoopUs, (e.active * 1000) / burst);
    burstWallUs = Math.min(burstWallUs, ((performance.now() - t0) * 1000) / burst);
  }
  await signer.close();
  return { loneLoopUs, loneWallUs, burstLoopUs, burstWallUs };
}

/** Both algorithms × both signers. */
export async function mintMicro(opts: { lone: number; burst: number }): Promise<MintMicroResult> {
  const rows: MintMicroRow[] = [];
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const ring = new KeyRing({ alg, maxTtlS: 300, publishAheadS: 60 });
    const key = ring.install(generateKeySync(alg), alg)!; // a fresh ring: nothing revoked
    const input = signingInput({ alg, typ: 'at+jwt', kid: key.kid }, { iss: 'https://portcullis.bench', sub: 'alice', aud: 'orders', exp: 2e9, iat: 2e9 - 300, jti: '6f1c1a52-8f4a-4f35-9f3e-1b7c2f1d9a10', client_id: 'web', scope: 'orders:read' });
    const inline = new InlineSigner();
    rows.push({ alg, signing: 'inline', ...(await measure(inline, () => inline.sign(key, input), opts.lone, opts.burst)) });
    const worker = new ThreadSigner();
    rows.push({ alg, signing: 'worker', ...(await measure(worker, () => worker.sign(key, input), opts.lone, opts.burst)) });
  }
  return { lone: opts.lone, burst: opts.burst, rows };
}

export function mintMicroTable(m: MintMicroResult): string {
  return markdownTable(
    ['alg', 'signing', 'lone mint: event loop µs', 'lone mint: wall µs', `burst of ${m.burst}: event loop µs/mint`, 'burst: wall µs/mint'],
    m.rows.map((r) => [r.alg, r.signing, cell(r.loneLoopUs, 1), cell(r.loneWallUs, 1), cell(r.burstLoopUs, 1), cell(r.burstWallUs, 1)]),
    [false, false, true, true, true, true],
  );
}
