// jwt-cold-account and its profile split: the GC line splits V8's GC kinds and counts allocation across GCs, a run's
// figures are per request (GCs per 10 000), and cold − warm pairs rounds by index.
import { describe, expect, it } from 'vitest';
import { accountRun, accountTables, pairedDelta, type AccountRun } from '../../../bench/jwt-cold-account.js';
import { coldGcLine, gcBucket, parseColdGc } from '../../../bench/jwt-cold-gc-preload.js';
import { categories, frameCategory } from '../../../bench/jwt-cold-profile.js';

const gc = (gcType: string, before: number, after: number, cost: number) => ({ gcType, cost, beforeGC: { heapStatistics: { usedHeapSize: before } }, afterGC: { heapStatistics: { usedHeapSize: after } } });

describe('jwt-cold-gc-preload', () => {
  it('buckets V8 GC kinds: scavenge (and minor mark-sweep), mark-compact, incremental marking, the rest', () => {
    expect(gcBucket('Scavenge')).toBe('scavenge');
    expect(gcBucket('MinorMarkSweep')).toBe('scavenge');
    expect(gcBucket('MarkSweepCompact')).toBe('markCompact');
    expect(gcBucket('IncrementalMarking')).toBe('incremental');
    expect(gcBucket('ProcessWeakCallbacks')).toBe('other');
  });

  it('counts bytes allocated across GCs and sums pauses per kind in ms; the last line of the output wins', () => {
    const line = coldGcLine(100, [gc('Scavenge', 1100, 200, 500), gc('MarkSweepCompact', 700, 50, 3000), gc('Scavenge', 450, 100, 250)], 300);
    expect(line.coldGc.bytes).toBe(1000 + 500 + 400 + 200);
    expect(line.coldGc.scavenge).toEqual({ n: 2, ms: 0.75 });
    expect(line.coldGc.markCompact).toEqual({ n: 1, ms: 3 });
    expect(line.coldGc.incremental).toEqual({ n: 0, ms: 0 });
    const out = `log\n${JSON.stringify(coldGcLine(0, [], 5))}\n${JSON.stringify(line)}\nmore log\n`;
    expect(parseColdGc(out)).toEqual(line.coldGc);
    expect(parseColdGc('no line')).toBeNull();
  });

  it('sums what scavenges kept: new space after each one plus what it promoted (old space growth), not mark-compacts', () => {
    const side = (total: number, young: number, old: number) => ({ heapStatistics: { usedHeapSize: total }, heapSpaceStatistics: [{ spaceName: 'new_space', spaceUsedSize: young }, { spaceName: 'old_space', spaceUsedSize: old }] });
    const line = coldGcLine(0, [
      { gcType: 'Scavenge', cost: 100, beforeGC: side(9000, 8000, 1000), afterGC: side(2500, 1200, 1300) },
      { gcType: 'MarkSweepCompact', cost: 100, beforeGC: side(9000, 500, 8500), afterGC: side(2000, 500, 1500) },
      { gcType: 'Scavenge', cost: 100, beforeGC: side(9000, 7500, 1500), afterGC: side(2000, 400, 1600) },
    ], 2000);
    expect(line.coldGc.promoted).toBe(300 + 100);
    expect(line.coldGc.survived).toBe(1200 + 300 + 400 + 100);
    const a = accountRun(1, 1, 0, 1000, 1000, line.coldGc);
    expect([a.survivedBytesPerReq, a.promotedBytesPerReq]).toEqual([2, 0.4]);
  });
});

describe('jwt-cold-account', () => {
  const line = coldGcLine(0, [gc('Scavenge', 4000, 0, 1000), gc('MarkSweepCompact', 4000, 0, 2000)], 2000);

  it('reports heap bytes, verifications and GCs per request (GCs per 10 000)', () => {
    const a = accountRun(5000, 40, 0.02, 20_000, 20_000, line.coldGc);
    expect(a.heapBytesPerReq).toBe(10_000 / 20_000);
    expect(a.verificationsPerReq).toBe(1);
    expect(a.gcPer10k?.scavenge).toEqual({ n: 0.5, ms: 0.5 });
    expect(a.gcPer10k?.markCompact).toEqual({ n: 0.5, ms: 1 });
    const none = accountRun(5000, undefined, undefined, 0, 0, null);
    expect(none).toMatchObject({ heapBytesPerReq: null, verificationsPerReq: null, gcPer10k: null, cpuUsPerReq: null });
  });

  it('cold − warm is the median of per-round differences, and the tables name both', () => {
    const run = (cpu: number, heap: number): AccountRun => ({ rps: 1, cpuUsPerReq: cpu, heapBytesPerReq: heap, survivedBytesPerReq: null, promotedBytesPerReq: null, verificationsPerReq: 1, gcPer10k: null, foreignCores: 0 });
    const cold = [run(100, 9000), run(90, 9100), run(200, 9200)];
    const warm = [run(30, 5000), run(25, 5000), run(40, 5000)];
    expect(pairedDelta(cold, warm, (r) => r.cpuUsPerReq)).toBe(70);
    expect(pairedDelta(cold, warm, (r) => r.heapBytesPerReq)).toBe(4100);
    const t = accountTables({ 'this-cold': cold, 'this-warm': warm }, ['this']);
    expect(t).toContain('this: cold − warm');
    expect(t).toContain('this-cold');
  });
});

describe('jwt-cold-profile', () => {
  it('puts frames in the category their time buys and turns shares into µs/req', () => {
    expect(frameCategory('(garbage collector)')).toBe('GC');
    expect(frameCategory('verifyOneShot')).toBe('crypto');
    expect(frameCategory('verify (node:internal/crypto/sig:220)')).toBe('crypto');
    expect(frameCategory('#settle (node/jwt/jwt-verifier.js:254)')).toBe('node/jwt');
    expect(frameCategory('authenticate (node/pipeline/authenticate.js:80)')).toBe('node/pipeline + auth');
    expect(frameCategory('parse')).toContain('builtins');
    const c = categories([{ frame: 'verifyOneShot', ms: 6, share: 0.6 }, { frame: '(garbage collector)', ms: 4, share: 0.4 }], 50);
    expect(c).toEqual([{ category: 'crypto', share: 0.6, usPerReq: 30 }, { category: 'GC', share: 0.4, usPerReq: 20 }]);
  });
});
