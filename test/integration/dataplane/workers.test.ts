// `serve --workers 2`: a node:cluster primary whose workers share one port, admin
// /metrics aggregated over the workers, a killed worker restarted while requests
// keep working, SIGTERM drains everything, and a worker that fails at boot is not
// restarted in a loop.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { request, Client } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, runCli, writeConfig, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { familyTypes, promtoolCheck } from '../../helpers/promtool.js';
import { sampleValue } from '../../../node/metrics/index.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let as: AuthServer;
let proxy: ProxyProcess;
const VERIFIER_THREADS = 1;

/** The process has exited (a zombie has closed its descriptors, its listening socket with them). */
function gone(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** One request on a fresh connection (so SO_REUSEPORT can spread them over workers). */
async function once(path: string): Promise<number> {
  const client = new Client(proxy.url);
  try {
    const r = await client.request({ path, method: 'GET', headers: { connection: 'close' } });
    await r.body.text();
    return r.statusCode;
  } finally {
    await client.close().catch(() => undefined);
  }
}

beforeAll(async () => {
  echo = await startEchoUpstream();
  as = await startAuthServer();
  // an issuer (unused by the route) so each worker has a verifier and keys to report
  proxy = await startProxy(baseConfig(echo.url, { issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } }, verifier: { pool_size: VERIFIER_THREADS } }),
    { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 }); // a bound, not a speed: ~21 s at load 12
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
  await as?.close();
});

describe('serve --workers 2', () => {
  it('forks two workers that both serve the one port', async () => {
    expect(workerPids(proxy.proc.pid!)).toHaveLength(2);
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => once(`/spread/${i}`)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    let pids = new Set<unknown>();
    await waitFor("() => { pids = new Set(proxy.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith('/spread…", () => {
      pids = new Set(proxy.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith('/spread/')).map((l) => l.pid));
      return proxy.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith('/spread/')).length === 40;
    }, 3_000);
    expect(pids.size).toBe(2);
    for (const pid of pids) expect(workerPids(proxy.proc.pid!)).toContain(pid);
  });

  it('admin /readyz reports both workers and /metrics aggregates them', async () => {
    // each worker reports its own readiness every 500 ms, after syncing revocations from the
    // primary's hub; on a loaded machine that may land after the first requests were served
    let last = '';
    await waitFor('/readyz 200', async () => {
      const r = await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      last = `${r.statusCode} ${await r.body.text()}`;
      return r.statusCode === 200;
    }, 10_000, { detail: () => `last: ${last}` });
    expect(JSON.parse(last.slice(4))).toMatchObject({ ready: true, workers: 2, workers_ready: 2 });
    const m = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(m.statusCode).toBe(200);
    const text = await m.body.text();
    // 40 requests spread over two processes, summed by the primary.
    expect(text).toContain('portcullis_requests_total{route="all",status="200"} 40');
    // the histogram too, bucket by bucket, and the result is still valid Prometheus text
    expect(sampleValue(text, 'portcullis_request_duration_seconds_count', { route: 'all' })).toBe(40);
    expect(sampleValue(text, 'portcullis_request_duration_seconds_bucket', { route: 'all', le: '+Inf' })).toBe(40);
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
    // gauges: additive ones summed (each worker's memory, threads), per-process copies of
    // one fact are not (the issuer count is the highest, readiness the lowest)
    const types = familyTypes(text);
    expect(types.get('portcullis_process_resident_memory_bytes')).toBe('gauge');
    expect(sampleValue(text, 'portcullis_verifier_pool_threads')).toBe(2 * VERIFIER_THREADS);
    expect(sampleValue(text, 'portcullis_jwt_issuers')).toBe(1);
    expect(sampleValue(text, 'portcullis_jwt_issuers_ready')).toBe(1);
    expect(sampleValue(text, 'portcullis_metrics_unmapped_keys')).toBe(0);
    // the primary's own series follow the workers'
    expect(types.get('portcullis_workers_ready')).toBe('gauge');
    expect(sampleValue(text, 'portcullis_workers_ready')).toBe(2);
    expect((await request(`${proxy.adminUrl}/metrics`)).statusCode).toBe(401);
  });

  it('a revocation posted to the admin API (the primary publishes it) is counted once in /metrics', async () => {
    const scrape = async (): Promise<string> => (await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
    const before = sampleValue(await scrape(), 'portcullis_revocations_published_total');
    const r = await request(`${proxy.adminUrl}/revocations`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'jti', value: 'workers-metrics-jti' }) });
    expect(r.statusCode).toBe(201);
    await r.body.text();
    // before: 0 whatever was published — the workers count none, the primary's count was not scraped
    const text = await scrape();
    expect(sampleValue(text, 'portcullis_revocations_published_total')).toBe(before + 1);
    expect(text.match(/^portcullis_revocations_published_total /gm)).toHaveLength(1);
    expect(promtoolCheck(text).output).toBe('');
  });

  it('a killed worker is restarted and requests keep working', async () => {
    const primary = proxy.proc.pid!;
    const [victim, survivor] = workerPids(primary);
    process.kill(victim!, 'SIGKILL');
    // SO_REUSEPORT keeps one accept backlog per listening socket, and the kernel resets (does
    // not migrate) connections queued on a socket that closes. So a connection that lands on
    // the victim's socket between the signal and the moment the dying process's descriptors
    // close can be reset — a window no user-space code can close (README "Limitations"; Linux
    // ≥ 5.14 can migrate them with net.ipv4.tcp_migrate_req=1). Once the victim is gone, every
    // new connection must reach the survivor while the primary starts the replacement.
    await waitFor('gone(victim!)', () => gone(victim!), 5_000, { detail: () => 'the killed worker never went away' });
    const during: Array<number | string> = [];
    const restarted = waitFor('a replacement beside the survivor', () => {
      const now = workerPids(primary);
      return now.length === 2 && !now.includes(victim!) && now.includes(survivor!);
    }, 10_000);
    for (let i = 0; i < 20; i++) during.push(await once(`/during/${i}`).catch((e: Error & { code?: string }) => e.code ?? e.message));
    await restarted;
    // Observed about once in ten runs on a loaded machine: the first fresh connection right
    // after the death is reset (never answered wrongly); not pinned down further than the
    // kernel's listener teardown — recorded in README "Limitations". Never more than one.
    const failed = during.filter((s) => s !== 200);
    expect(failed.length <= 1 && failed.every((s) => s === 'ECONNRESET'), `statuses during the restart: ${during.join(',')}`).toBe(true);
    expect(proxy.output()).toContain('worker died; restarting');
    // The new worker serves too.
    await waitFor('(await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r…', async () => (await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.body.json()) as { workers_ready: number }).workers_ready === 2, 20_000);
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => once(`/after/${i}`)));
    expect(after.every((s) => s === 200)).toBe(true);
  });

  it('SIGTERM drains and stops every worker, exit 0', async () => {
    const primary = proxy.proc.pid!;
    const pids = workerPids(primary);
    const inflight = request(`${proxy.url}/slow/500`).then(async (r) => { await r.body.text(); return r.statusCode; });
    // in flight: the upstream holds it when SIGTERM comes
    await waitFor("echo.lastRequest?.url === '/slow/500'", () => echo.lastRequest?.url === '/slow/500', 10_000, { detail: () => 'the request at the upstream' });
    expect(await proxy.stop()).toBe(0);
    expect(await inflight).toBe(200);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('a worker failing at boot', () => {
  it('is not restarted in a loop: the primary exits non-zero with the reason', async () => {
    const cfg = baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: '/nonexistent/cert.pem', key_file: '/nonexistent/key.pem' } } });
    const r = await runCli(['serve', '--config', writeConfig(cfg), '--workers', '2'], ADMIN_ENV, 20_000); // rejects if it never exits
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const out = r.stdout + r.stderr;
    expect(out).toContain('/nonexistent/cert.pem');
    // Each of the two workers fails once; none is forked again.
    expect(out.match(/"msg":"worker failed at boot"/g)?.length ?? 0).toBeLessThanOrEqual(2);
    expect(out.match(/"msg":"start failed"/g)?.length ?? 0).toBeLessThanOrEqual(3); // two workers + the primary
    expect(out).not.toContain('worker died; restarting');
  });

  it('single process: the same mistake exits non-zero with the reason', async () => {
    const cfg = baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: '/nonexistent/cert.pem', key_file: '/nonexistent/key.pem' } } });
    const r = await runCli(['serve', '--config', writeConfig(cfg)], ADMIN_ENV);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('/nonexistent/cert.pem');
  });
});
