// The internal-token bench's pure parts: mint counters from two /cache/stats snapshots,
// the ratios and CPU differences that isolate the mint, and the config each target runs.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';
import { parse } from 'yaml';
import { MINT_TARGETS, mintConfigYaml, mintCounters, summariseInternalToken } from '../../../bench/internal-token.bench.js';
import type { LoadResult } from '../../../bench/stats.js';

const run = (rps: number, cpu: number): LoadResult => ({ rps, p50: 1, p99: 2, p999: 3, errors: 0, non2xx: 0, requests: rps, durationS: 1, cpuUsPerReq: cpu });

describe('internal-token bench', () => {
  it('counts mints per lookup and the mean signing batch', () => {
    const a = { 'internal_tokens.cache_hits': 10, 'internal_tokens.cache_misses': 5, 'internal_tokens.minted': 5, 'internal_tokens.sign_batches': 1 };
    const b = { 'internal_tokens.cache_hits': 10, 'internal_tokens.cache_misses': 105, 'internal_tokens.singleflight_waits': 0, 'internal_tokens.minted': 105, 'internal_tokens.sign_batches': 6 };
    expect(mintCounters(a, b)).toEqual({ lookups: 100, minted: 100, mintsPerRequest: 1, meanBatch: 20 });
    expect(mintCounters(a, a)).toEqual({ lookups: 0, minted: 0, mintsPerRequest: null, meanBatch: null });
  });

  it('isolates the mint: paired rps ratios and CPU added over the keep route', () => {
    const s = summariseInternalToken({
      'keep-warm': [run(1000, 60)], 'internal-cached': [run(990, 61)], 'keep-cold': [run(500, 160)],
      'internal-first-mint': [run(400, 220)], 'internal-first-mint-inline': [run(450, 215)],
    }, {});
    expect(s.ratios[0]).toEqual(['internal-cached / keep-warm (cached mint)', 0.99]);
    expect(s.ratios[1]![1]).toBeCloseTo(0.8);
    expect(s.cpuAdded.map(([, v]) => v)).toEqual([1, 60, 55]);
  });

  it('every target config is valid and mints only where it says so', () => {
    for (const t of MINT_TARGETS) {
      const r = validateConfig(parse(mintConfigYaml({ upstreamPort: 1, issuer: 'https://as.bench', alg: 'RS256', t })));
      expect(r.ok ? [] : r.errors).toEqual([]);
      if (!r.ok) continue;
      expect(r.config.routes[0]!.forward.token).toBe(t.token);
      expect(r.config.internal_tokens?.signing).toBe(t.token === 'internal' ? t.signing : undefined);
    }
  });
});
