// bench/tail-pair-load.ts against a real node:http upstream on port 0: both streams answered and sampled, the
// loader's heap collected (a forced GC) between warm-up and measurement unless told not to, and the measured span
// and long pacer gaps reported on the loader's performance.now clock; the same load from a forked child (compiled dist/).
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Server } from 'node:http';
import { startCheapUpstream } from '../../../bench/cheap-upstream.js';
import { runPairLoad, type PairLoadFlags } from '../../../bench/tail-pair-load.js';
import { runPairLoadInChild } from '../../../bench/tail-pair-loader-process.js';

let server: Server;
let url = '';
beforeAll(async () => { const up = await startCheapUpstream(0); server = up.server; url = `http://127.0.0.1:${up.port}`; });
afterAll(async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); });

const flags = (over: Partial<PairLoadFlags>): PairLoadFlags => ({ rate: 200, probeRate: 50, connections: 4, probeConnections: 2, durationS: 0.3, warmupS: 0.2, windowMs: 100, path: '/', headers: {}, gapLogMs: 0, ...over });

/** Forced GCs seen between the end of warm-up and the start of measurement (beforeMeasure runs right before the measured run). */
async function forcedBeforeMeasure(over: Partial<PairLoadFlags>): Promise<{ forced: number; result: Awaited<ReturnType<typeof runPairLoad>>; measureAt: number }> {
  const forcedAt: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (((e as unknown as { detail?: { flags?: number } }).detail?.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forcedAt.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  let measureAt = 0;
  try {
    const result = await runPairLoad(url, url, flags(over), () => { measureAt = performance.now(); });
    // gc entries are delivered asynchronously
    await new Promise((r) => setTimeout(r, 50));
    return { forced: forcedAt.filter((t) => t <= measureAt).length, result, measureAt };
  } finally { obs.disconnect(); }
}

describe('tail-pair loader', () => {
  it('collects its heap between warm-up and measurement, then samples both streams in full', async () => {
    const { forced, result, measureAt } = await forcedBeforeMeasure({});
    expect(forced).toBeGreaterThanOrEqual(1);
    expect(result.proxy.latMs.length).toBe(60);
    expect(result.direct.latMs.length).toBe(15);
    expect(result.proxy.errors + result.proxy.non2xx + result.direct.errors + result.direct.non2xx).toBe(0);
    // the span is on the loader's performance.now clock and starts after beforeMeasure
    expect(result.spanMs[0]).toBeGreaterThanOrEqual(measureAt);
    expect(result.spanMs[1]).toBeGreaterThan(result.spanMs[0]);
    // gapLogMs 0 lists every gap between pacer turns, each ending inside the span
    expect(result.longGaps.length).toBeGreaterThan(0);
    for (const g of result.longGaps) expect(g.endMs).toBeGreaterThanOrEqual(result.spanMs[0]);
  });

  it('leaves the heap alone when gcBeforeMeasure is false', async () => {
    const { forced } = await forcedBeforeMeasure({ gcBeforeMeasure: false });
    expect(forced).toBe(0);
  });
});

describe('tail-pair loader in a child process (dist/bench/tail-pair-loader-process.js: `npm run build` first)', () => {
  it('runs the same paced load in another process, calls beforeMeasure with that pid between warm-up and measurement, and returns every sample', async () => {
    let loaderPid = 0;
    const result = await runPairLoadInChild(url, url, flags({}), [], (pid) => { loaderPid = pid; });
    expect(loaderPid).toBeGreaterThan(0);
    expect(loaderPid).not.toBe(process.pid);
    expect(result.loaderPid).toBe(loaderPid);
    expect(result.proxy.latMs.length).toBe(60);
    expect(result.direct.latMs.length).toBe(15);
    expect(result.proxy.errors + result.direct.errors).toBe(0);
    // the child is gone once the result is in
    await new Promise((r) => setTimeout(r, 200));
    expect(() => process.kill(loaderPid, 0)).toThrow();
  });
});
