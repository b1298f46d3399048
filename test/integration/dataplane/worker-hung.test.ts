// `serve --workers 2` with a worker whose event loop stops turning (SIGSTOP stands in for a loop
// stuck in a busy or deadlocked state): connections the kernel hands it would hang forever. The
// primary hears no status from it: /readyz says 503 naming it, and after server.worker_silence_kill_ms
// of silence (8 s here; 30 s by default) it is killed and restarted, so every worker answers again.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Client } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer, call } from '../auth/tokens-helpers.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let stopped = 0;
// 8 s: past the not-ready verdict (2 s of silence) and the 2 s more this test waits while it must stay alive
// (~4.5 s after the stop, 3.5 s spare for a loaded machine); every second above is waited out by each run
const KILL_AFTER_MS = 8_000;

/** One request on a fresh connection; 'hung' when no answer came in 3 s. */
async function once(): Promise<number | 'hung' | 'reset'> {
  const c = new Client(proxy.url, { headersTimeout: 3_000 });
  try {
    const r = await c.request({ path: '/x', method: 'GET', headers: { connection: 'close' } });
    await r.body.text();
    return r.statusCode;
  } catch (e) {
    return (e as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' ? 'hung' : 'reset';
  } finally {
    await c.destroy().catch(() => undefined);
  }
}

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, { verifier: { pool_size: 1 }, server: { listen: { host: '127.0.0.1', port: 0 }, worker_silence_kill_ms: KILL_AFTER_MS } }), { env: ADMIN_ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
});

afterAll(async () => {
  if (stopped !== 0) { try { process.kill(stopped, 'SIGCONT'); } catch { /* gone */ } }
  await proxy?.stop();
  await echo?.close();
});

const readyz = (): ReturnType<typeof call> => call(`${proxy.adminUrl}/readyz`, { headers: bearer(ADMIN_TOKEN) });

describe('serve --workers 2: a worker whose event loop stops', () => {
  it('/readyz 503 naming it within seconds; killed and restarted after worker_silence_kill_ms of silence; then every request is answered', async () => {
    await waitFor('/readyz 200', async () => (await readyz()).status === 200, 10_000);
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    stopped = pids[0]!;
    process.kill(stopped, 'SIGSTOP');

    // before: /readyz and /healthz stayed 200 with workers_ready 2 while about half the new connections hung
    await waitFor('(await readyz()).status === 503', async () => (await readyz()).status === 503, 8_000, { detail: () => 'a silent worker still counted as ready' });
    const r = await readyz();
    expect(r.json).toMatchObject({ ready: false, workers: 2, workers_ready: 1 });
    expect((r.json as { workers_silent: number[] }).workers_silent).toHaveLength(1);
    // still alive seconds later: a loop blocked for seconds (a reload parsing a large config) is not killed
    await new Promise((r) => setTimeout(r, 2_000));
    expect(workerPids(proxy.proc.pid!)).toContain(stopped);

    // the configured silence, not the 30 s default: killed within 20 s (eventually's bound), and not before KILL_AFTER_MS
    await waitFor('!workerPids(proxy.proc.pid!).includes(stopped)', () => !workerPids(proxy.proc.pid!).includes(stopped), 20_000, { detail: () => 'the silent worker was not killed at worker_silence_kill_ms' });
    await waitFor('workerPids(proxy.proc.pid!).length === 2', () => workerPids(proxy.proc.pid!).length === 2, 10_000);
    await waitFor('/readyz 200', async () => (await readyz()).status === 200, 10_000);
    const killed = proxy.logs().find((l) => l.msg === 'worker silent (event loop stuck): killing it to restart it');
    expect(killed?.silent_ms).toBeGreaterThanOrEqual(KILL_AFTER_MS);
    const answers: Array<number | 'hung' | 'reset'> = [];
    for (let i = 0; i < 10; i++) answers.push(await once());
    expect(answers).toEqual(Array(10).fill(200));
  }, 90_000);
});
