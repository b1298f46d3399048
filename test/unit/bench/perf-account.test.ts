// perf-account's reading of `perf report` (bench/perf-categories.ts) on lines perf 6.x printed here,
// and its per-target tables (bench/perf-account.ts).
import { describe, expect, it } from 'vitest';
import { categorize, categoryMicros, parsePerfReport } from '../../../bench/perf-categories.js';
import { accountTables, type AccountRow } from '../../../bench/perf-account.js';

const REPORT = `# Samples: 23K of event 'cpu-clock'
# Overhead       Samples  Shared Object            Symbol
     3.24%           776  node                     [.] __bn_sqrx8x_reduction
     2.87%           687  [kernel.kallsyms]        [k] pvm_irq_enable
     0.91%           218  node                     [.] OPENSSL_LH_doall_arg
     0.70%           168  [JIT] tid 4006           [.] JS:*verify file:///work/main/dist/node/jwt/jwt-verifier.js:120:11
     0.50%           120  [JIT] tid 4006           [.] JS:*onStreamRead node:internal/stream_base_commons:168:22
     0.40%            96  node                     [.] v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>
     0.30%            72  libc.so.6                [.] malloc
     0.20%            48  uws_linux_x64_115.node   [.] uWS::HttpResponse<false>::end
     0.10%            24  haproxy                  [.] base64urldec
     0.05%            12  libcrypto.so.3           [.] 0x000000000013104b
`;

describe('perf-account', () => {
  it('reads every sample line, a dso with spaces included, with its sample count', () => {
    const rows = parsePerfReport(REPORT);
    expect(rows).toHaveLength(10);
    expect(rows[3]).toEqual({ pct: 0.7, samples: 168, dso: '[JIT] tid 4006', sym: 'JS:*verify file:///work/main/dist/node/jwt/jwt-verifier.js:120:11' });
    expect(rows[1]!.sym).toBe('[k] pvm_irq_enable');
  });

  it('files OpenSSL inside the node binary as crypto, and a peer binary as the peer', () => {
    const cat = parsePerfReport(REPORT).map((r) => categorize(r, 'haproxy'));
    expect(cat).toEqual(['crypto (OpenSSL)', 'kernel', 'crypto (OpenSSL)', 'JS node/jwt', 'JS Node core', 'V8 runtime + GC',
      'libc (malloc, syscall stubs)', 'uWS', 'peer binary', 'crypto (OpenSSL)']);
    expect(categorize({ dso: 'haproxy', sym: 'base64urldec' })).toBe('unresolved'); // no peer named: not counted as anyone's code
  });

  it('turns samples into CPU µs per request (one sample = 1/hz s on one CPU) and refuses a report without counts', () => {
    const us = categoryMicros(parsePerfReport(REPORT), 1000, 1000);
    expect(us.get('kernel')).toBeCloseTo(687, 6); // 687 samples × 1 ms / 1000 requests
    expect(us.get('crypto (OpenSSL)')).toBeCloseTo(776 + 218 + 12, 6);
    expect(() => categoryMicros(parsePerfReport('  1.00%  node  [.] malloc\n'), 1000, 10)).toThrow(/-n/);
  });

  it("prints medians per target, the first target's costliest category first", () => {
    const row = (target: string, round: number, proxyUs: number, kernel: number, v8: number): AccountRow => ({
      target, round, rps: 1000 * round, proxyUs, upstreamUs: 20, loaderUs: 15, foreignCores: 0, idleCores: 0,
      categories: { kernel, 'V8 runtime + GC': v8 }, top: [],
    });
    const md = accountTables([row('portcullis', 1, 80, 20, 30), row('portcullis', 2, 90, 22, 34), row('portcullis', 3, 70, 18, 26), row('haproxy', 1, 35, 12, 0)]);
    expect(md).toContain('| portcullis | 2000 | 80.0 | 20.0 | 15.0 | 0.00 | 0.00 |');
    expect(md.indexOf('V8 runtime + GC')).toBeLessThan(md.indexOf('| kernel'));
    expect(md).toContain('| kernel | 20.0 | 12.0 |');
  });
});
