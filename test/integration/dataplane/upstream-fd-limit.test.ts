// The proxy out of file descriptors (its open-files limit lowered with prlimit below what its client
// connections take) cannot open upstream connections: that is its own side, not the upstream's — the
// 502s say `local_fd_limit`, are counted under that kind and never as the target refusing (which
// charges it toward ejection), and once the clients go, requests are served again — over HTTP/1.1 and to an
// h2c upstream (its session's connect fails the same way).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import http2, { type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readdirSync } from 'node:fs';
import { Pool, request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { metrics, sample } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let h2: Http2Server;
let h2Proxy: ProxyProcess;

/** Set the soft open-files limit of `pid` (util-linux prlimit; the hard one stays). */
function openFilesLimit(pid: number, soft: number | 'unlimited'): void {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
  } catch (err) {
    throw new Error(`this test needs util-linux "prlimit" able to set RLIMIT_NOFILE of its own child: ${(err as Error).message}`);
  }
}

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url));
  h2 = http2.createServer();
  h2.on('stream', (stream) => { stream.respond({ ':status': 200 }); stream.end('ok'); });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  const h2Url = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  h2Proxy = await startProxy(baseConfig(h2Url, { upstreams: { app: { targets: [h2Url], protocol: 'h2c' } } }));
});

afterAll(async () => {
  await proxy?.stop();
  await h2Proxy?.stop();
  await echo?.close();
  await new Promise((resolve) => h2?.close(resolve));
});

describe('upstream connections with no file descriptor left', () => {
  it.each([['HTTP/1.1', () => proxy], ['h2c', () => h2Proxy]] as const)('%s: answers 502 local_fd_limit, does not blame the upstream, and serves again after', async (_kind, which) => {
    const proxy = which();
    const pid = proxy.proc.pid!;
    // the limit bounds a descriptor's NUMBER (a new one takes the lowest free): exactly 8 free numbers under it, holes
    // left by descriptors closed earlier counted — a count of open ones + 8 let as many more through as there were holes
    const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
    let limit = 0;
    for (let free = 0; free < 8; limit++) if (!open.has(limit)) free++;
    openFilesLimit(pid, limit);
    // 24 client connections: the first 8 take the descriptors left, the upstream connections find none
    const pool = new Pool(proxy.url, { connections: 24 });
    const statuses = await Promise.all(Array.from({ length: 48 }, () =>
      pool.request({ path: '/x', method: 'GET', headersTimeout: 10_000 }).then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0)));
    await pool.close();
    openFilesLimit(pid, 4096);

    expect(statuses.filter((s) => s === 502).length, `statuses: ${statuses.join(',')}`).toBeGreaterThan(0);
    const m = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(m, 'portcullis_upstream_errors_total{upstream="app",kind="local_fd_limit"}')).toBeGreaterThan(0);
    expect(sample(m, 'portcullis_upstream_errors_total{upstream="app",kind="connect"}') ?? 0, 'the upstream never refused').toBe(0);
    await waitFor('an access line with reason local_fd_limit', () => proxy.logs().some((l) => l.reason === 'local_fd_limit'), 5_000);
    const r = await request(`${proxy.url}/after`, { reset: true });
    await r.body.dump();
    expect(r.statusCode).toBe(200);
  });
});
