// Signals an operator sends to the wrong process of `serve --workers N`: a SIGHUP that reaches a
// worker (`pkill -HUP -f portcullis`, a script that signals every pid) must not kill it — the
// worker keeps serving and says to signal the primary; the primary's SIGHUP still reloads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url), { args: ['--workers', '2'], env: ADMIN_ENV, timeoutMs: 40_000 });
});
afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe('SIGHUP sent to a worker', () => {
  it('does not kill it: it keeps serving, logs where to send the signal, and nothing is restarted', async () => {
    await waitFor("proxy.logs().some((l) => l.name === 'portcullis-w0')", () => proxy.logs().some((l) => l.name === 'portcullis-w0'), 10_000);
    const worker = Number(proxy.logs().find((l) => l.name === 'portcullis-w0')!.pid);
    expect(worker).not.toBe(proxy.proc.pid);
    process.kill(worker, 'SIGHUP');
    await waitFor("proxy.logs().some((l) => l.name === 'portcullis-w0' && /SIGHUP/.test(String(l.msg)))", () => proxy.logs().some((l) => l.name === 'portcullis-w0' && /SIGHUP/.test(String(l.msg))), 5_000, { detail: () => proxy.output().slice(-1500) });
    expect(alive(worker)).toBe(true);
    for (let i = 0; i < 10; i++) expect((await fetch(`${proxy.url}/after-hup-${i}`, { headers: { connection: 'close' } })).status).toBe(200);
    expect(proxy.logs().some((l) => l.msg === 'worker died; restarting'), proxy.output().slice(-1500)).toBe(false);
  });
});
