// `serve --workers 2`: the counters and histograms of /metrics never go backwards when a worker
// is restarted or does not answer a scrape. The primary sums the workers' series; a replacement
// starts from 0, so without the primary carrying what the old worker had counted the sum drops —
// Prometheus reads any drop as a reset of the whole series and rate() spikes by every other
// worker's total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
const stopped: number[] = [];

async function scrape(): Promise<string> {
  const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.statusCode).toBe(200);
  return r.body.text();
}

/** Sum of every sample of `name` (all label sets). */
const total = (text: string, name: string): number =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
const served = (t: string): number => total(t, 'portcullis_requests_total');
const timed = (t: string): number => total(t, 'portcullis_request_duration_seconds_count');
const gauge = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

async function send(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await request(`${proxy.url}/m/${i}`, { headers: { connection: 'close' } });
    await r.body.dump();
  }
}

/** SIGKILL worker `pid` and wait until the primary has a ready replacement. */
async function killAndRestore(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitFor('!workerPids(proxy.proc.pid!).includes(pid)', () => !workerPids(proxy.proc.pid!).includes(pid), 10_000);
  await workersReady(proxy);
  await waitFor("gauge(await scrape(), 'portcullis_metrics_workers_reporting') === 2", async () => gauge(await scrape(), 'portcullis_metrics_workers_reporting') === 2, 10_000);
}

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
  await workersReady(proxy);
});

afterAll(async () => {
  for (const pid of stopped) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  await proxy?.stop();
  await echo?.close();
});

describe('/metrics counters across worker restarts', () => {
  it('both workers killed in turn and restarted: requests and request durations counted before stay counted', async () => {
    await send(30);
    const before = await scrape();
    expect(served(before)).toBeGreaterThanOrEqual(30);
    expect(timed(before)).toBeGreaterThanOrEqual(30);
    const [a, b] = workerPids(proxy.proc.pid!);
    expect(b, 'two workers').toBeDefined();
    await killAndRestore(a!);
    const mid = await scrape();
    expect(served(mid)).toBeGreaterThanOrEqual(served(before));
    await killAndRestore(b!);
    const after = await scrape();
    expect(served(after), 'portcullis_requests_total went backwards after worker restarts').toBeGreaterThanOrEqual(served(before));
    expect(timed(after), 'portcullis_request_duration_seconds_count went backwards').toBeGreaterThanOrEqual(timed(before));
    expect(gauge(after, 'portcullis_worker_restarts_total')).toBeGreaterThanOrEqual(2);
    // and it keeps counting on top of what it carries
    await send(5);
    expect(served(await scrape())).toBeGreaterThanOrEqual(served(before) + 5);
  });

  it('a worker that does not answer a scrape (SIGSTOP): the sum does not drop while it is silent', async () => {
    await send(20);
    const before = await scrape();
    const [pid] = workerPids(proxy.proc.pid!);
    process.kill(pid!, 'SIGSTOP');
    stopped.push(pid!);
    const during = await scrape();
    expect(gauge(during, 'portcullis_metrics_workers_reporting')).toBe(1);
    expect(served(during), 'portcullis_requests_total dropped while a worker was silent').toBeGreaterThanOrEqual(served(before));
    process.kill(pid!, 'SIGCONT');
    stopped.pop();
    await waitFor("gauge(await scrape(), 'portcullis_metrics_workers_reporting') === 2", async () => gauge(await scrape(), 'portcullis_metrics_workers_reporting') === 2, 10_000);
    expect(served(await scrape())).toBeGreaterThanOrEqual(served(before));
  });
});
