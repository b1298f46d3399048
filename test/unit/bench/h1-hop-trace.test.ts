// The closed-loop tail diagnosis (bench/h1-hop-trace*.ts, bench/sched-stats.ts): slow responses
// merged into episodes, empty completion bins, what the episodes overlapped, per-step times, and the
// scheduler's view of a live process.
import { describe, expect, it } from 'vitest';
import { emptyBins, episodes, roundReport, type ClientSample } from '../../../bench/h1-hop-trace-report.js';
import type { HopDump } from '../../../bench/h1-hop-trace-preload.js';
import { schedDelta, threadStats } from '../../../bench/sched-stats.js';

const s = (end: number, ms: number, client: number): ClientSample => ({ end: 1_000_000 + end, ms, client });

describe('h1 hop trace report', () => {
  it('merges overlapping slow responses into one episode and counts its connections', () => {
    const samples = [s(10, 1, 0), s(50, 20, 1), s(52, 21, 2), s(55, 12, 3), s(200, 15, 1), s(201, 2, 4)];
    const eps = episodes(samples, 10);
    expect(eps).toHaveLength(2);
    expect(eps[0]).toMatchObject({ responses: 3, clients: 3 });
    expect(eps[0]!.start).toBeCloseTo(1_000_030, 6);
    expect(eps[0]!.end).toBeCloseTo(1_000_055, 6);
    expect(eps[1]).toMatchObject({ responses: 1, clients: 1 });
  });

  it('counts 1 ms bins in which nothing completed, and the longest run', () => {
    const e = emptyBins([s(0, 1, 0), s(1.5, 1, 0), s(7.2, 1, 0), s(8, 1, 0)]);
    expect(e).toEqual({ empty: 5, longest: 5, bins: 9 });
  });

  it('attributes slow responses to the GC pause of the proxy that overlapped them (clocks aligned by timeOrigin)', () => {
    const proxy: HopDump = {
      timeOrigin: 1_000_000,
      requests: [[0, 0.1, 0.6, 0.7], [30, 30.1, 49, 50], [60, -1, -1, -1]],
      gc: [[35, 8, 1], [500, 40, 4]],
      stalls: [[34, 9]],
    };
    const upstream: HopDump = { timeOrigin: 999_990, requests: [], gc: [], stalls: [] };
    const out = roundReport([s(1, 1, 0), s(50, 20, 1), s(52, 21, 2), s(300, 1, 3)], { proxy, upstream }, 10).join('\n');
    expect(out).toMatch(/client: n 4 /);
    expect(out).toMatch(/responses ≥ 10 ms: 2 on 2 connections/);
    expect(out).toMatch(/1 episodes/);
    expect(out).toMatch(/proxy GC 100 %, proxy loop stall 100 %, upstream GC 0 %/);
    expect(out).toMatch(/proxy GC scavenge 1 \(8\.0 ms, longest 8\.00\), mark-compact 1 \(40\.0 ms/);
    expect(out).toMatch(/upstream write → upstream head\s+n\s+2 /);
    expect(out).toMatch(/handler → end \(in the proxy\)\s+n\s+2 .*max 20\.00 ms/);
  });
});

describe('sched stats', () => {
  it('reads this process: the main thread is its pid and has run; a delta is per request', () => {
    const a = threadStats(process.pid);
    expect(a.some((t) => t.tid === process.pid && t.runNs > 0)).toBe(true);
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += i % 7;
    expect(x).toBeGreaterThan(0);
    const b = threadStats(process.pid);
    expect(schedDelta(process.pid, a, b, 1000)).toMatch(/^sched per request: main thread CPU \d+\.\d\d µs/);
    expect(schedDelta(process.pid, [], b, 1000)).toBe('sched: —');
  });
});
