// In-process microbenchmark of the cold path's crypto: the verifier worker's own code
// (verifyTask, node:crypto engine) run inline on the calling thread, against the product's
// VerifierPool (piscina) with 1…N threads. No HTTP: it isolates what the pool costs the event
// loop per token and what it buys, which tells where a pool pays off.
import { performance } from 'node:perf_hooks';
import { VerifierPool, sanitizeJwks, verifyTask, type IssuerBundle, type VerifyResult, type VerifyTask } from '../node/jwt/index.js';
import { cell, markdownTable } from './results.js';
import { median } from './stats.js';

export interface MicroInline {
  /** Wall (= main-thread CPU) per token, µs. */
  usPerToken: number;
  tokensPerS: number;
}

export interface MicroPool {
  size: number;
  /** Tokens verified per second with `inFlight` tokens outstanding. */
  tokensPerS: number;
  /** Event-loop busy time per token (dispatch, structured clone, result handling), µs. */
  mainUsPerToken: number;
  /** CPU of the whole process (main + workers) per token, µs. */
  cpuUsPerToken: number;
  /** Tokens per batch sent to a worker, mean. */
  batchMean: number;
  /** One token alone, submit to result (median of sequential runs), µs. */
  roundTripUs: number;
}

export interface MicroResult {
  alg: string;
  tokens: number;
  inFlight: number;
  inline: MicroInline;
  pools: MicroPool[];
}

const ISSUER = 'bench';

/** The bundle a worker needs for `issuer`'s keys (what the JWKS actor would send). */
export async function benchBundle(jwksUri: string, issuer: string, audience: string, alg: string): Promise<IssuerBundle> {
  const res = await fetch(jwksUri);
  const s = sanitizeJwks(await res.json());
  if (!s.ok) throw new Error(`JWKS ${jwksUri}: ${s.message}`);
  return { version: 1, keys: s.keys, policy: { issuer, audiences: [audience], algorithms: [alg], clockSkewS: 60, maxLifetimeS: null, requireTyp: false } };
}

function mustBeOk(r: VerifyResult | { ok: false; code: string }, what: string): void {
  if (!r.ok) throw new Error(`${what}: verification failed (${r.code}); the micro bench needs valid tokens`);
}

/** The worker's verifyTask on this thread, one token after another. */
export function measureInline(tokens: readonly string[], bundle: IssuerBundle): MicroInline {
  const now = Date.now() / 1000;
  const first = verifyTask({ token: tokens[0]!, issuer: ISSUER, version: bundle.version, now, install: bundle }, 'node');
  if (first instanceof Promise) throw new Error('node engine answered asynchronously');
  mustBeOk(first, 'inline');
  // warm the JIT on a slice, then measure every token
  for (let i = 0; i < Math.min(500, tokens.length); i++) verifyTask({ token: tokens[i]!, issuer: ISSUER, version: bundle.version, now }, 'node');
  const t0 = performance.now();
  for (const token of tokens) {
    const r = verifyTask({ token, issuer: ISSUER, version: bundle.version, now }, 'node') as VerifyResult;
    if (!r.ok) mustBeOk(r, 'inline');
  }
  const us = ((performance.now() - t0) * 1000) / tokens.length;
  return { usPerToken: us, tokensPerS: 1e6 / us };
}

/** The product's pool with `size` threads: throughput at `inFlight` outstanding, event-loop cost, lone-token round trip. */
export async function measurePool(tokens: readonly string[], bundle: IssuerBundle, size: number, inFlight: number): Promise<MicroPool> {
  const pool = new VerifierPool({ size, engine: 'node' });
  const now = Date.now() / 1000;
  // as JwtVerifier does: a worker lacking the key set answers need_keys, the task returns with it
  const run = async (token: string): Promise<void> => {
    const task: VerifyTask = { token, issuer: ISSUER, version: bundle.version, now };
    let r = await pool.run(task);
    if (!r.ok && r.code === 'need_keys') r = await pool.run({ ...task, install: bundle });
    mustBeOk(r, `pool ${size}`);
  };
  const drive = async (list: readonly string[]): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => { while (next < list.length) await run(list[next++]!); };
    await Promise.all(Array.from({ length: Math.min(inFlight, list.length) }, lane));
  };
  try {
    await drive(tokens.slice(0, Math.min(tokens.length, 64 * size + 500)));
    const s0 = pool.stats();
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await drive(tokens);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    const s1 = pool.stats();
    const rtt: number[] = [];
    for (let i = 0; i < Math.min(300, tokens.length); i++) {
      const t = performance.now();
      await run(tokens[i]!);
      rtt.push((performance.now() - t) * 1000);
    }
    return {
      size,
      tokensPerS: tokens.length / (wallMs / 1000),
      mainUsPerToken: (elu.active * 1000) / tokens.length,
      cpuUsPerToken: (cpu.user + cpu.system) / tokens.length,
      batchMean: (s1.pool_tasks! - s0.pool_tasks!) / Math.max(1, s1.pool_batches! - s0.pool_batches!),
      roundTripUs: median(rtt),
    };
  } finally {
    await pool.close();
  }
}

/** Inline, then each pool size, over the same distinct tokens. */
export async function verifyMicro(o: { tokens: readonly string[]; jwksUri: string; issuer: string; audience: string; alg: string; sizes: readonly number[]; inFlight?: number }): Promise<MicroResult> {
  const bundle = await benchBundle(o.jwksUri, o.issuer, o.audience, o.alg);
  const inFlight = o.inFlight ?? 256;
  const inline = measureInline(o.tokens, bundle);
  const pools: MicroPool[] = [];
  for (const size of o.sizes) pools.push(await measurePool(o.tokens, bundle, size, inFlight));
  return { alg: o.alg, tokens: o.tokens.length, inFlight, inline, pools };
}

/**
 * Pure: where the pool pays off. The event loop is what serves every request, so moving a
 * verification off it is worth it when the verification costs the loop more inline than the
 * pool's dispatch does (`mainUsPerToken`), and it costs a lone request the round trip.
 */
export function poolVerdict(m: MicroResult): string {
  const p1 = m.pools.find((p) => p.size === 1) ?? m.pools[0];
  if (p1 === undefined) return '';
  const saved = m.inline.usPerToken - p1.mainUsPerToken;
  const best = m.pools.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a), p1);
  return [
    `Inline, one ${m.alg} verification holds the event loop ${m.inline.usPerToken.toFixed(1)} µs; handed to the pool it costs the loop ${p1.mainUsPerToken.toFixed(1)} µs (batches of ${p1.batchMean.toFixed(1)} at ${m.inFlight} in flight),`,
    saved > 0
      ? `so the pool frees ${saved.toFixed(1)} µs of event loop per cold token and pays off for throughput whenever a verification costs more than ~${p1.mainUsPerToken.toFixed(0)} µs inline`
      : `so for this algorithm the pool costs the event loop more than verifying inline (break-even ~${p1.mainUsPerToken.toFixed(0)} µs per verification)`,
    `— at the price of a ${p1.roundTripUs.toFixed(0)} µs round trip for a lone token (vs ${m.inline.usPerToken.toFixed(0)} µs inline) when the loop is idle.`,
    `Pool throughput: ${m.pools.map((p) => `${p.size} thread${p.size === 1 ? '' : 's'} ${p.tokensPerS.toFixed(0)}/s`).join(', ')}${best !== p1 ? ` (×${(best.tokensPerS / p1.tokensPerS).toFixed(2)} from 1 to ${best.size})` : ''}; inline on one core ${m.inline.tokensPerS.toFixed(0)}/s.`,
  ].join(' ');
}

/** Pure: the microbenchmark as a markdown table. */
export function microTable(m: MicroResult): string {
  return markdownTable(
    ['engine', 'threads', 'tokens/s', 'event-loop µs/token', 'process CPU µs/token', 'mean batch', 'lone token µs'],
    [
      ['inline (worker code on the event loop)', '0', cell(m.inline.tokensPerS, 0), cell(m.inline.usPerToken, 1), cell(m.inline.usPerToken, 1), '—', cell(m.inline.usPerToken, 0)],
      ...m.pools.map((p) => [`pool (piscina, node:crypto)`, String(p.size), cell(p.tokensPerS, 0), cell(p.mainUsPerToken, 1), cell(p.cpuUsPerToken, 1), cell(p.batchMean, 1), cell(p.roundTripUs, 0)]),
    ],
    [false, true, true, true, true, true, true],
  );
}
