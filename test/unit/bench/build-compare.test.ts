// build-compare: the baseline build is required and named, runs only when asked for, and its
// per-round CPU difference and ratios fold as the other side-by-side scenarios do.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { baselineCli, pairedCpuDiff, peerTermsFromEnv, roundsTable, summarisePhase, withPipelining, withWorkers, withXffMode } from '../../../bench/build-compare.bench.js';
import { processTree, cpuSeconds } from '../../../bench/processes.js';
import { resolveScenarios } from '../../../bench/run.js';
import type { LoadResult } from '../../../bench/stats.js';

const r = (rps: number, cpu: number, foreign = 0): LoadResult => ({ rps, p50: 1, p99: 2, p999: 3, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, cpuUsPerReq: cpu, foreignCores: foreign });

describe('build-compare scenario', () => {
  it('is not part of "every scenario" but runs when named', () => {
    expect(resolveScenarios([])).not.toContain('build-compare');
    expect(resolveScenarios(['build-compare'])).toEqual(['build-compare']);
  });

  it('PORTCULLIS_BENCH_XFF sets this build\'s X-Forwarded-For mode in the bench config (keep with trust); unset leaves it; a typo is refused', () => {
    const yaml = 'server:\n  listen: { host: 127.0.0.1, port: 0 }\n  workers: 1\nadmin:\n';
    expect(withXffMode(yaml, undefined)).toBe(yaml);
    expect(withXffMode(yaml, 'off')).toBe('server:\n  listen: { host: 127.0.0.1, port: 0 }\n  workers: 1\n  forwarded: { x_forwarded_for: off }\nadmin:\n');
    expect(withXffMode(yaml, 'keep')).toContain('  trust_forwarded: true\n  forwarded: { x_forwarded_for: keep }\n');
    expect(() => withXffMode(yaml, 'of')).toThrow(/PORTCULLIS_BENCH_XFF: append, keep or off/);
    // the peer terms' configs run two workers: the mode goes under that line too
    expect(withXffMode('server:\n  workers: 2\nadmin:\n', 'off')).toBe('server:\n  workers: 2\n  forwarded: { x_forwarded_for: off }\nadmin:\n');
    expect(() => withXffMode('server:\nadmin:\n', 'off')).toThrow(/workers: N/);
  });

  it('PORTCULLIS_BENCH_PIPELINING sets this build\'s upstream pipelining in the bench config; unset leaves it; a bad value is refused', () => {
    const yaml = 'upstreams:\n  app:\n    targets: ["http://127.0.0.1:1"]\nroutes:\n';
    expect(withPipelining(yaml, undefined)).toBe(yaml);
    expect(withPipelining(yaml, '8')).toBe('upstreams:\n  app:\n    targets: ["http://127.0.0.1:1"]\n    pipelining: 8\nroutes:\n');
    expect(() => withPipelining(yaml, '0')).toThrow(/PORTCULLIS_BENCH_PIPELINING: an integer 1–64/);
    expect(() => withPipelining(yaml, '65')).toThrow(/PORTCULLIS_BENCH_PIPELINING/);
  });

  it('PORTCULLIS_BENCH_PEER_TERMS=1 asks for the peer terms; withWorkers sets the server\'s workers; a typo is refused', () => {
    expect(peerTermsFromEnv({})).toBe(false);
    expect(peerTermsFromEnv({ PORTCULLIS_BENCH_PEER_TERMS: '0' })).toBe(false);
    expect(peerTermsFromEnv({ PORTCULLIS_BENCH_PEER_TERMS: '1' })).toBe(true);
    expect(() => peerTermsFromEnv({ PORTCULLIS_BENCH_PEER_TERMS: 'yes' })).toThrow(/PORTCULLIS_BENCH_PEER_TERMS: 1 or 0/);
    const yaml = 'server:\n  listen: { host: 127.0.0.1, port: 0 }\n  workers: 1\nadmin:\n';
    expect(withWorkers(yaml, 1)).toBe(yaml);
    expect(withWorkers(yaml, 2)).toBe('server:\n  listen: { host: 127.0.0.1, port: 0 }\n  workers: 2\nadmin:\n');
    expect(() => withWorkers('server:\n', 2)).toThrow(/workers: 1/);
  });

  it('counts a multi-process proxy whole: processTree finds a child process, cpuSeconds includes its CPU', async () => {
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 400); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 700));
      expect(processTree(process.pid)).toContain(child.pid);
      const own = process.cpuUsage(); // this process alone, read first: the tree read after it can only be larger
      const childCpu = cpuSeconds(child.pid!)!;
      // /proc counts whole clock ticks (10 ms) where cpuUsage counts µs: allow one tick each side
      expect(cpuSeconds(process.pid)! - (own.user + own.system) / 1e6).toBeGreaterThanOrEqual(childCpu - 0.02);
      expect(childCpu).toBeGreaterThan(0);
    } finally {
      child.kill();
    }
  });

  it('refuses to run without a built baseline, naming the variable', () => {
    expect(() => baselineCli({})).toThrow(/PORTCULLIS_BENCH_BASELINE=/);
    expect(() => baselineCli({ PORTCULLIS_BENCH_BASELINE: '/nonexistent-checkout' })).toThrow(/\/nonexistent-checkout\/dist\/cluster\/cli\/main\.js not found/);
  });

  it('pairs rounds: CPU saved and ratios use the same round of each side, quiet rounds only when there are some', () => {
    const closed = {
      baseline: [r(10_000, 60), r(5_000, 120, 0.8), r(10_400, 58)],
      portcullis: [r(11_000, 50), r(6_000, 100, 0.8), r(11_200, 49)],
      haproxy: [r(12_000, 40), r(12_000, 40), r(12_000, 40)],
    };
    expect(pairedCpuDiff(closed, 'baseline', 'portcullis')).toBe(10);
    const s = summarisePhase(closed);
    const ratio = Object.fromEntries(s.ratios.map((x) => [x[0], x[1]]));
    expect(ratio['portcullis / baseline']).toBeCloseTo(((11_000 / 10_000) + (11_200 / 10_400)) / 2, 6); // round 2 disturbed: left out
    expect(s.ratios.find((x) => x[0] === 'portcullis / baseline')![2]).toBe('2 of 3 quiet');
    expect(roundsTable(closed)).toContain('| 2 |');
  });
});

describe('heap-alloc-preload', () => {
  it('allocated bytes: growth up to each GC plus what is in use at the end beyond the last one', async () => {
    const { allocatedBytes, parseHeapAlloc } = await import('../../../bench/heap-alloc-preload.js');
    const gc = (before: number, after: number) => ({ cost: 100, beforeGC: { heapStatistics: { usedHeapSize: before } }, afterGC: { heapStatistics: { usedHeapSize: after } } });
    expect(allocatedBytes(1_000, [gc(5_000, 2_000), gc(6_000, 1_500)], 2_500)).toBe(4_000 + 4_000 + 1_000);
    expect(allocatedBytes(1_000, [], 800)).toBe(0);
    expect(parseHeapAlloc('x\n{"heapAlloc":{"bytes":1,"gcs":0,"gcMs":0}}\n{"heapAlloc":{"bytes":7,"gcs":1,"gcMs":0.1}}\n')).toEqual({ bytes: 7, gcs: 1, gcMs: 0.1 });
    expect(parseHeapAlloc('nothing')).toBeNull();
  });

  it('scavenges: count, pause and the old-space growth across them (what they promoted); other GCs are not counted', async () => {
    const { heapNote, scavengeStats } = await import('../../../bench/heap-alloc-preload.js');
    const space = (old: number) => [{ spaceName: 'new_space', spaceUsedSize: 9_999 }, { spaceName: 'old_space', spaceUsedSize: old }];
    const gc = (gcType: string, costUs: number, oldBefore: number, oldAfter: number) => ({
      gcType, cost: costUs,
      beforeGC: { heapStatistics: { usedHeapSize: 0 }, heapSpaceStatistics: space(oldBefore) },
      afterGC: { heapStatistics: { usedHeapSize: 0 }, heapSpaceStatistics: space(oldAfter) },
    });
    const s = scavengeStats([gc('Scavenge', 2_000, 100, 4_196), gc('MarkSweepCompact', 9_000, 5_000, 1_000), gc('Scavenge', 500, 1_000, 1_000)]);
    expect(s).toEqual({ n: 2, ms: 2.5, maxMs: 2, promoted: 4_096 });
    expect(heapNote({ bytes: 7_000, gcs: 3, gcMs: 11.5, scavenge: s }, 10)).toBe('heap 700 B/req · scavenges 2 (2.5 ms, longest 2.0) promoted 2.0 KiB/scavenge');
    expect(heapNote(null, 10)).toBe('heap ?');
  });
});
