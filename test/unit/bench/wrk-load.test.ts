// wrk's --latency report as the wrk loader reads it (bench/wrk-load.ts), on text wrk 4.1 printed.
import { describe, expect, it } from 'vitest';
import { parseWrk, wrkMs } from '../../../bench/wrk-load.js';
import { loaderFromEnv } from '../../../bench/build-compare.bench.js';

const REPORT = `Running 1s test @ http://127.0.0.1:18099/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   362.35us  839.23us  12.09ms   92.60%
    Req/Sec    25.38k     9.33k   39.17k    68.18%
  Latency Distribution
     50%  139.00us
     75%  203.00us
     90%  771.00us
     99%    4.26ms
  55485 requests in 1.10s, 6.72MB read
Requests/sec:  50467.15
Transfer/sec:      6.11MB
`;

describe('wrk loader', () => {
  it('reads rps, requests and the percentiles in ms', () => {
    const r = parseWrk(REPORT);
    expect(r).toEqual({ rps: 50467.15, requests: 55485, p50: 0.139, p99: 4.26, non2xx: 0, errors: 0 });
  });

  it('counts non-2xx answers and socket errors', () => {
    const r = parseWrk(`${REPORT}  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 17\n`);
    expect(r.non2xx).toBe(17);
    expect(r.errors).toBe(10);
  });

  it('refuses a report without figures', () => {
    expect(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(/unreadable report/);
  });

  it('converts every unit wrk prints', () => {
    expect(wrkMs('812.00us')).toBeCloseTo(0.812);
    expect(wrkMs('1.5ms')).toBe(1.5);
    expect(wrkMs('2.01s')).toBeCloseTo(2010);
    expect(wrkMs('1.00m')).toBe(60_000);
    expect(wrkMs('fast')).toBeNaN();
  });

  it('takes autocannon or wrk from PORTCULLIS_BENCH_LOADER, nothing else', () => {
    expect(loaderFromEnv({})).toBe('autocannon');
    expect(loaderFromEnv({ PORTCULLIS_BENCH_LOADER: 'wrk' })).toBe('wrk');
    expect(() => loaderFromEnv({ PORTCULLIS_BENCH_LOADER: 'ab' })).toThrow(/autocannon or wrk/);
  });
});

describe('wrk loader against a real upstream', () => {
  it('runs wrk and reports what it measured, CPU per response included', async () => {
    const { existsSync } = await import('node:fs');
    const { createServer } = await import('node:http');
    const { wrkOnce, WRK_BIN } = await import('../../../bench/wrk-load.js');
    if (!existsSync(WRK_BIN)) throw new Error(`${WRK_BIN} missing: apt-get install -y wrk (.ci/run installs it)`);
    const server = createServer((_q, s) => { s.end('hello'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await wrkOnce(`http://127.0.0.1:${port}`, { connections: 4, durationS: 1, warmupS: 0.2, timeoutS: 5, path: '/x', headers: { 'x-probe': '1' } }, { cpuPid: process.pid, ownPids: [] });
      expect(r.requests).toBeGreaterThan(0);
      expect(r.rps).toBeGreaterThan(0);
      expect(r.non2xx).toBe(0);
      expect(r.p50).toBeGreaterThan(0);
      expect(r.p99).toBeGreaterThanOrEqual(r.p50);
      expect(r.cpuUsPerReq).toBeGreaterThan(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
