// In-process before/after of the whole cache-miss path of JwtVerifier.verify (hash, parse,
// issuer and key selection, pre-checks, the signature wherever verifier.mode puts it, the
// principal, the cache insert) — this build in each mode, and with PORTCULLIS_BENCH_BASELINE
// another build's JwtVerifier (its own dist/), in interleaved rounds. No HTTP, no sockets: CPU
// per token of this process (main + pool threads) is what differs between builds and modes.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { cell, markdownTable } from './results.js';
import { median } from './stats.js';

/** One variant's medians over rounds. */
export interface PathVariantResult {
  name: string;
  /** Process CPU (user + system, every thread) per verified token, µs. */
  cpuUsPerToken: number;
  /** Event-loop busy time per token, µs. */
  loopUsPerToken: number;
  tokensPerS: number;
}

export interface PathMicroResult {
  tokensPerRound: number;
  inFlight: number;
  rounds: number;
  variants: PathVariantResult[];
}

interface VerifierLike {
  verify(token: string, allowed: readonly string[] | null): unknown;
  start(): void;
  whenReady(ms: number): Promise<boolean>;
  close(): Promise<void>;
}

interface JwtModule { JwtVerifier: new (o: Record<string, unknown>) => VerifierLike }
interface SchemaModule { issuerSchema: { parse(x: unknown): unknown } }

export interface PathMicroOptions {
  tokens: readonly string[];
  jwksUri: string;
  issuer: string;
  audience: string;
  alg: string;
  poolSize: number;
  /** Root of another built checkout (its dist/ is imported), or null. */
  baselineRoot: string | null;
  rounds?: number;
  inFlight?: number;
}

async function load(root: string | null): Promise<{ jwt: JwtModule; schema: SchemaModule }> {
  const base = root === null ? new URL('../node/', import.meta.url).href : pathToFileURL(join(root, 'dist', 'node') + '/').href;
  const jwt = (await import(new URL('jwt/index.js', base).href)) as JwtModule;
  const schema = (await import(new URL('config/schema.js', base).href)) as SchemaModule;
  return { jwt, schema };
}

async function drive(v: VerifierLike, tokens: readonly string[], inFlight: number): Promise<void> {
  let next = 0;
  let bad = 0;
  const lane = async (): Promise<void> => {
    while (next < tokens.length) {
      const r = (await v.verify(tokens[next++]!, null)) as { ok: boolean };
      if (!r.ok) bad++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, tokens.length) }, lane));
  if (bad > 0) throw new Error(`verifier-path micro: ${bad} tokens refused; the bench needs valid tokens`);
}

/** Every variant, `rounds` times in rotated order, each round over its own slice of tokens. */
export async function verifierPathMicro(o: PathMicroOptions): Promise<PathMicroResult> {
  const rounds = o.rounds ?? 4;
  const inFlight = o.inFlight ?? 50;
  const logger = pino({ level: 'silent' });
  const self = await load(null);
  const specs: [string, { jwt: JwtModule; schema: SchemaModule }, Record<string, unknown>][] = [
    [`this build, pool (${o.poolSize} threads)`, self, { mode: 'pool' }],
    [`this build, auto (${o.poolSize} threads)`, self, { mode: 'auto' }],
    ['this build, inline', self, { mode: 'inline' }],
  ];
  if (o.baselineRoot !== null) specs.unshift([`baseline, pool (${o.poolSize} threads)`, await load(o.baselineRoot), {}]);
  const verifiers: [string, VerifierLike][] = [];
  try {
    for (const [name, m, extra] of specs) {
      const cfg = m.schema.issuerSchema.parse({ issuer: o.issuer, jwks_uri: o.jwksUri, audiences: [o.audience], algorithms: [o.alg] });
      const v = new m.jwt.JwtVerifier({ issuers: { bench: cfg }, poolSize: o.poolSize, cacheEntries: 1024, cacheBytes: 1 << 24, logger, ...extra });
      verifiers.push([name, v]);
      v.start();
      if (!(await v.whenReady(10_000))) throw new Error(`verifier-path micro: ${name} did not load the keys`);
    }
    const per = Math.floor(o.tokens.length / (rounds + 1));
    // warm-up on the first slice (JIT, key import in every thread)
    for (const [, v] of verifiers) await drive(v, o.tokens.slice(0, per), inFlight);
    const samples = new Map<string, { cpu: number[]; loop: number[]; rate: number[] }>(verifiers.map(([n]) => [n, { cpu: [], loop: [], rate: [] }]));
    for (let r = 0; r < rounds; r++) {
      const slice = o.tokens.slice(per * (r + 1), per * (r + 2));
      for (let i = 0; i < verifiers.length; i++) {
        const [name, v] = verifiers[(i + r) % verifiers.length]!;
        const elu0 = performance.eventLoopUtilization();
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await drive(v, slice, inFlight);
        const wallMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const elu = performance.eventLoopUtilization(elu0);
        const s = samples.get(name)!;
        s.cpu.push((cpu.user + cpu.system) / slice.length);
        s.loop.push((elu.active * 1000) / slice.length);
        s.rate.push(slice.length / (wallMs / 1000));
      }
    }
    return {
      tokensPerRound: per, inFlight, rounds,
      variants: verifiers.map(([name]) => {
        const s = samples.get(name)!;
        return { name, cpuUsPerToken: median(s.cpu), loopUsPerToken: median(s.loop), tokensPerS: median(s.rate) };
      }),
    };
  } finally {
    await Promise.all(verifiers.map(([, v]) => v.close().catch(() => {})));
  }
}

/** Pure: the result as a markdown table (ratios against the first row). */
export function pathMicroTable(m: PathMicroResult): string {
  const first = m.variants[0];
  return markdownTable(
    ['JwtVerifier.verify, cache miss', 'process CPU µs/token', 'event-loop µs/token', 'tokens/s', `CPU vs ${first?.name ?? '—'}`],
    m.variants.map((v) => [v.name, cell(v.cpuUsPerToken, 1), cell(v.loopUsPerToken, 1), cell(v.tokensPerS, 0), cell(first === undefined ? null : v.cpuUsPerToken / first.cpuUsPerToken)]),
    [false, true, true, true, true],
  );
}
