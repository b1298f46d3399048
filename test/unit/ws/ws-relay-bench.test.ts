// The websocket-relay bench: its pure folding (ratio, added latency, warnings, table) and its
// load generator against an in-process echo upstream for a fraction of a second.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summariseWsRelay, wsRelayConfigYaml, wsRelayTables, wsRelayWarnings } from '../../../bench/websocket-relay.bench.js';
import { DEFAULT_WS_LOAD_FLAGS, DEFAULT_WS_RATE_FLAGS, probeEcho, runWsClosedLoop, runWsFixedRate } from '../../../bench/ws-load.js';
import type { LoadResult } from '../../../bench/stats.js';
import { validateConfig } from '../../../node/config/index.js';
import { parse } from 'yaml';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';

const r = (rps: number, p50: number, p99: number, extra: Partial<LoadResult> = {}): LoadResult => ({ rps, p50, p99, p999: p99 * 2, errors: 0, non2xx: 0, requests: rps * 5, durationS: 5, foreignCores: 0.01, ...extra });

describe('websocket-relay folding', () => {
  it('pairs rounds: ratio of messages/s and added latency are medians of per-round values', () => {
    const s = summariseWsRelay(
      { direct: [r(10_000, 1, 2), r(12_000, 1, 2), r(11_000, 1, 2)], portcullis: [r(8_000, 1, 2), r(6_000, 1, 2), r(11_000, 1, 2)] },
      { direct: [r(5000, 0.5, 1), r(5000, 0.6, 1.2), r(5000, 0.5, 1.1)], portcullis: [r(5000, 0.7, 1.5), r(5000, 0.9, 1.6), r(5000, 0.6, 2.1)] },
    );
    expect(s.ratio).toBeCloseTo(0.8, 5); // per round 0.8, 0.5, 1.0
    expect(s.added.p50).toBeCloseTo(0.2, 5); // 0.2, 0.3, 0.1
    expect(s.added.p99).toBeCloseTo(0.5, 5); // 0.5, 0.4, 1.0
    const table = wsRelayTables(s, {}, DEFAULT_WS_LOAD_FLAGS, DEFAULT_WS_RATE_FLAGS, []);
    expect(table).toContain('| portcullis |');
    expect(table).toContain('portcullis / direct (messages/s, median of per-round ratios): 0.80');
  });

  it('warns about foreign CPU, an unreached rate and lost messages', () => {
    const s = summariseWsRelay({ direct: [r(1, 1, 1, { foreignCores: 0.5 })] }, { portcullis: [r(4000, 1, 1, { errors: 3 })] });
    const w = wsRelayWarnings(s, 5000);
    expect(w.some((x) => x.includes('0.50 cores'))).toBe(true);
    expect(w.some((x) => x.includes('portcullis echoed 4000 of 5000'))).toBe(true);
    expect(w.some((x) => x.includes('3 connections closed or messages lost'))).toBe(true);
  });

  it('its Portcullis config is valid and has a websocket route without auth', () => {
    const v = validateConfig(parse(wsRelayConfigYaml(1234)));
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.config.routes[0]).toMatchObject({ websocket: true, auth: 'none' });
  });
});

describe('websocket load generator against an in-process echo upstream', () => {
  let up: WsEchoUpstream;
  beforeAll(async () => { up = await startWsEchoUpstream(); });
  afterAll(async () => { await up?.close(); });

  it('closed loop counts echoes and their round trips', async () => {
    expect(await probeEcho(up.url)).toBe(true);
    const x = await runWsClosedLoop(up.url, { ...DEFAULT_WS_LOAD_FLAGS, connections: 4, durationS: 0.3, warmupS: 0.1 });
    expect(x.requests).toBeGreaterThan(10);
    expect(x.rps).toBeGreaterThan(30);
    expect(x.p99).toBeGreaterThan(0);
    expect(x.errors).toBe(0);
  });

  it('fixed rate echoes what it offers and measures from the scheduled send', async () => {
    const x = await runWsFixedRate(up.url, { ...DEFAULT_WS_RATE_FLAGS, connections: 4, rate: 400, durationS: 0.5, warmupS: 0.1 });
    expect(x.requests).toBeGreaterThanOrEqual(190);
    expect(x.requests).toBeLessThanOrEqual(201);
    expect(x.errors).toBe(0);
    expect(x.p50).toBeGreaterThan(0);
  });
});
