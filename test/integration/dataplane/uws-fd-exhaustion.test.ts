// The uWS listener has no connection cap (README Limitations "Connections on the uWS listener: no
// cap"): a client opening connections past the process's open-files limit (lowered here with
// prlimit to 256) exhausts its descriptors. The process must survive that and serve again once they close.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

const FD_LIMIT = 256;
const FLOOD = 400;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url), { env: ADMIN_ENV });
  execFileSync('prlimit', [`--pid=${proxy.proc.pid}`, `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const served = (url: string): Promise<boolean> => request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 })
  .then(async (r) => { await r.body.dump(); return r.statusCode === 200; }, () => false);

describe('the uWS listener past the open-files limit', () => {
  it('the process survives descriptor exhaustion and serves the admin API and requests once the connections close', async () => {
    const flood: Socket[] = [];
    try {
      for (let i = 0; i < FLOOD; i++) {
        const s = connect(proxy.port, '127.0.0.1');
        s.on('error', () => { /* refused or reset once the proxy is out of descriptors */ });
        flood.push(s);
      }
      // every descriptor the proxy can get is taken: a data-plane request finds none
      await waitFor('the proxy out of descriptors', async () => !(await served(`${proxy.url}/x`)), 20_000);
      expect(proxy.proc.exitCode).toBe(null);
    } finally {
      for (const s of flood) s.destroy();
    }
    await waitFor('the admin API answers again', () => served(`${proxy.adminUrl}/healthz`), 20_000);
    await waitFor('the data plane answers again', () => served(`${proxy.url}/x`), 20_000);
    expect(proxy.proc.exitCode).toBe(null);
  });
});
