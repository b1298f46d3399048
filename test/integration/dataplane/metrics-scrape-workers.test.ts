// `serve --workers 2`: /metrics while a worker hangs or dies. The scrape aggregates the workers
// that answer and says how many (portcullis_metrics_workers_reporting); a stopped or killed
// worker costs its own series, never the whole scrape (a 500 would blind the operator exactly
// when a worker is in trouble).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { familyTypes } from '../../helpers/promtool.js';
import { readmeFamilies } from '../../helpers/readme-metrics.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
const stopped: number[] = [];

async function scrape(): Promise<{ status: number; text: string }> {
  const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: r.statusCode, text: await r.body.text() };
}

const gauge = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
const requestsServed = (text: string): number =>
  [...text.matchAll(/^portcullis_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
  await workersReady(proxy);
  for (let i = 0; i < 20; i++) {
    const r = await request(`${proxy.url}/m/${i}`, { headers: { connection: 'close' } });
    await r.body.dump();
  }
});

afterAll(async () => {
  for (const pid of stopped) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  await proxy?.stop();
  await echo?.close();
});

describe('/metrics over workers that hang or die', () => {
  it('both workers answer: every request served is counted, 2 workers reporting', async () => {
    const m = await scrape();
    expect(m.status).toBe(200);
    expect(gauge(m.text, 'portcullis_metrics_workers_reporting')).toBe(2);
    expect(requestsServed(m.text)).toBeGreaterThanOrEqual(20);
    // the README's `--workers` families are the primary's own: here, with their documented types
    const types = familyTypes(m.text);
    const workersOnly = [...readmeFamilies()].filter(([, d]) => d.workersOnly);
    expect(workersOnly.length).toBeGreaterThanOrEqual(4);
    expect(workersOnly.filter(([name, d]) => types.get(name) !== d.type).map(([name]) => name)).toEqual([]);
  });

  it('a hung worker (SIGSTOP): the scrape still answers 200 with the other worker\'s series and says 1 of 2 reported', async () => {
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    process.kill(pids[0]!, 'SIGSTOP');
    stopped.push(pids[0]!);
    const m = await scrape();
    expect(m.status, m.text.slice(0, 500)).toBe(200);
    expect(gauge(m.text, 'portcullis_metrics_workers_reporting')).toBe(1);
    expect(gauge(m.text, 'portcullis_workers_ready')).toBe(2); // stopped, not exited: the supervisor still counts it
    expect(m.text).toMatch(/^portcullis_requests_total\{/m);
    process.kill(pids[0]!, 'SIGCONT');
    stopped.pop();
    await waitFor("gauge((await scrape()).text, 'portcullis_metrics_workers_reporting') === 2", async () => gauge((await scrape()).text, 'portcullis_metrics_workers_reporting') === 2, 10_000);
  });

  it('a worker killed while a scrape waits for it: that scrape answers 200, and the replacement reports once it is ready', async () => {
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    process.kill(pids[1]!, 'SIGSTOP'); // hold it so the scrape is surely waiting for it when it dies
    const pending = scrape();
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pids[1]!, 'SIGKILL');
    const m = await pending;
    expect(m.status, m.text.slice(0, 500)).toBe(200);
    expect(gauge(m.text, 'portcullis_metrics_workers_reporting')).toBe(1);
    await workersReady(proxy);
    const after = await scrape();
    expect(after.status).toBe(200);
    expect(gauge(after.text, 'portcullis_metrics_workers_reporting')).toBe(2);
    expect(gauge(after.text, 'portcullis_worker_restarts_total')).toBeGreaterThanOrEqual(1);
  });
});
