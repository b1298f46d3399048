// `serve --workers 2` stopped (SIGTERM) while the primary is restarting a worker: the
// replacement that is still booting must stop too, not finish its boot, bind the shared port
// and serve new connections during the shutdown (until the primary SIGKILLs it drain_ms + 2 s
// later, cutting whatever it was serving then).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

beforeAll(async () => {
  echo = await startEchoUpstream();
  const config = baseConfig(echo.url, { log: { level: 'info', access: false } });
  (config.server as Record<string, unknown>).timeouts = { drain_ms: 4_000 };
  proxy = await startProxy(config, { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
  await workersReady(proxy);
});

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await echo?.close();
});

describe('SIGTERM while a worker is being restarted', () => {
  it('the booting replacement stops too: no connection is served once the listener closed, and no worker outlives the primary', async () => {
    const known = new Set(workerPids(proxy.proc.pid!));
    const [victim] = known;
    process.kill(victim!, 'SIGKILL');
    let fresh: number | undefined;
    for (let i = 0; i < 3_000 && fresh === undefined; i++) {
      fresh = workerPids(proxy.proc.pid!).find((p) => !known.has(p));
      if (fresh === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    expect(fresh, 'the primary forked a replacement').toBeDefined();
    const exited = new Promise<number | null>((resolve) => proxy.proc.once('exit', (code) => resolve(code)));
    let done = false;
    void exited.then(() => { done = true; });
    proxy.proc.kill('SIGTERM');
    // from the first refused connection on (the running worker closed its listener), nothing may answer
    const outcomes: string[] = [];
    for (let i = 0; i < 200 && !done; i++) {
      try {
        const r = await request(`${proxy.url}/after-sigterm/${i}`, { headers: { connection: 'close' }, headersTimeout: 2_000, bodyTimeout: 2_000 });
        await r.body.dump();
        outcomes.push(String(r.statusCode));
      } catch (err) {
        outcomes.push((err as { code?: string }).code ?? 'error');
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const firstRefusal = outcomes.findIndex((o) => o === 'ECONNREFUSED');
    const servedAfter = firstRefusal < 0 ? [] : outcomes.slice(firstRefusal).filter((o) => o === '200');
    expect(servedAfter, `answers after the listener closed: ${outcomes.join(' ')}`).toEqual([]);
    expect(await exited).toBe(0);
    await waitFor('!alive(fresh!)', () => !alive(fresh!), 5_000, { detail: () => 'the replacement worker outlived the primary' });
  });
});
