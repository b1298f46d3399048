// Scenario tail-peer's pure parts: which targets and pacers a run has (refused with the bad name),
// the GC preload's lines read back per process, and the table's added latency taken per round
// against direct under the same pacer. The load itself needs processes: the scenario does that.
import { describe, it, expect } from 'vitest';
import { parseGcPauses } from '../../../bench/gc-pause-preload.js';
import { DEFAULT_TAIL_TARGETS, tailPacers, tailTable, tailTargets, type TailRound } from '../../../bench/tail-peer.bench.js';

describe('tail-peer targets and pacers', () => {
  it('defaults to the peer rows and their controls, direct first', () => {
    expect(tailTargets(undefined)).toEqual([...DEFAULT_TAIL_TARGETS]);
    expect(tailTargets(' ')[0]).toBe('direct');
  });

  it('adds direct when a list leaves it out and refuses unknown names', () => {
    expect(tailTargets('pc-w2-cpu01,hap-t2-cpu1')).toEqual(['direct', 'pc-w2-cpu01', 'hap-t2-cpu1']);
    expect(() => tailTargets('pc-w2,direct')).toThrow(/"pc-w2"/);
    expect(() => tailTargets('nginx-w2-cpu01')).toThrow(/"nginx-w2-cpu01"/);
  });

  it('takes spin, timer or both, and nothing else', () => {
    expect(tailPacers(undefined)).toEqual(['spin']);
    expect(tailPacers('spin,timer')).toEqual(['spin', 'timer']);
    expect(() => tailPacers('busy')).toThrow(/"busy"/);
  });
});

describe('tail-peer GC preload lines', () => {
  it('reads every window line, oldest first, ignoring other output', () => {
    const k = (count: number, maxMs: number): string => `{"count":${count},"totalMs":${count * maxMs},"maxMs":${maxMs}}`;
    const out = [
      '{"level":30,"msg":"listening"}',
      `{"gcPauses":{"pid":7,"minor":${k(2, 1.5)},"major":${k(0, 0)},"other":${k(0, 0)},"newSpaceMB":1}}`,
      `{"gcPauses":{"pid":8,"minor":${k(5, 0.9)},"major":${k(1, 4)},"other":${k(0, 0)},"newSpaceMB":1}}`,
    ].join('\n');
    const lines = parseGcPauses(out);
    expect(lines.map((l) => l.pid)).toEqual([7, 8]);
    expect(lines[1]!.major).toEqual({ count: 1, totalMs: 4, maxMs: 4 });
  });
});

describe('tail-peer table', () => {
  const row = (target: string, round: number, p99: number, pacer: 'spin' | 'timer' = 'spin'): TailRound => ({
    target, round, pacer, requests: 8000, errors: 0, non2xx: 0, rps: 2000, p50: p99 / 10, p90: p99 / 2, p99, p999: p99 * 2, max: p99 * 3,
    svcP50: p99 / 10, svcP99: p99, over1ms: 0.01, over2ms: 0, loaderCores: 1, cpuUsPerReq: 60, primaryUsPerReq: null, foreignCores: 0,
    proxyWaitUs: 10, loaderWaitUs: 5, proxyNvPer1000: 100, primaryRunUs: null, connsPerProcess: [], gc: [],
  });

  it('subtracts direct of the same round and pacer, then takes the median', () => {
    const rounds = [
      row('direct', 0, 0.5), row('pc-w2-cpu01', 0, 2.0),
      row('direct', 1, 1.0), row('pc-w2-cpu01', 1, 1.2),
      row('direct', 2, 0.6), row('pc-w2-cpu01', 2, 3.0),
      row('direct', 0, 9, 'timer'), row('pc-w2-cpu01', 0, 9.25, 'timer'),
    ];
    const t = tailTable(rounds, ['direct', 'pc-w2-cpu01'], ['spin', 'timer']);
    const spin = t.split('\n').find((l) => l.startsWith('| spin | pc-w2-cpu01 |'))!.split('|').map((c) => c.trim());
    // columns: '', pacer, target, p50, p99, p99.9, added p50, added p90, added p99 …
    expect(spin[8]).toBe('1.500'); // per round 1.5, 0.2, 2.4 → 1.5 (median(p99) − median(direct) would say 1.4)
    const timer = t.split('\n').find((l) => l.startsWith('| timer | pc-w2-cpu01 |'))!.split('|').map((c) => c.trim());
    expect(timer[8]).toBe('0.250');
  });
});
