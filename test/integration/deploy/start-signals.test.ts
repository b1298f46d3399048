// A SIGHUP that reaches the proxy while it is still starting (systemd `reload` right after
// `start`, an orchestrator's config push) must not kill it: it starts and then reloads.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, writeConfig, ADMIN_ENV, BUS_AUTH, BUS_ENV } from '../../helpers/proxy-process.js';
import { deadPort } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';
import { reap } from '../../helpers/reaper.js';

let proc: ChildProcess | null = null;
afterEach(() => { if (proc !== null && proc.exitCode === null) proc.kill('SIGKILL'); proc = null; });

/** A config whose start takes seconds: the bus is unreachable and start_timeout_ms is waited out. */
async function slowStartConfig(): Promise<string> {
  const nats = await deadPort();
  return writeConfig({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: { app: { targets: [`http://127.0.0.1:${await deadPort()}`] } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
    cluster: { nats: { servers: [`nats://127.0.0.1:${nats}`] }, auth: BUS_AUTH, start_timeout_ms: 4000 },
    log: { level: 'info' },
  });
}

describe('signals while starting', () => {
  // With workers the primary waits out the bus's start_timeout_ms before forking them: seconds
  // between reading the config and "listening" in which a SIGHUP used to end the process.
  it('SIGHUP before "listening" → it starts, then reloads every worker', async () => {
    proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', await slowStartConfig(), '--workers', '2'], { env: { ...process.env, ...ADMIN_ENV, ...BUS_ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => { out += d; });
    proc.stderr!.on('data', (d: Buffer) => { out += d; });
    // the config is read and the member is waiting for the bus: well before "listening"
    await waitFor("out.includes('cluster member started') || proc!.exitCode !== null", () => out.includes('cluster member started') || proc!.exitCode !== null, 20_000, { detail: () => out });
    expect(out).not.toContain('"msg":"listening"');
    proc.kill('SIGHUP');
    await waitFor('out.includes(\'"msg":"listening"\') || proc!.exitCode !== null || proc!.signalCode !== null', () => out.includes('"msg":"listening"') || proc!.exitCode !== null || proc!.signalCode !== null, 30_000);
    expect({ code: proc.exitCode, signal: proc.signalCode }).toEqual({ code: null, signal: null });
    await waitFor("out.includes('SIGHUP received while starting: reloading')", () => out.includes('SIGHUP received while starting: reloading'), 10_000, { detail: () => out.slice(-2000) });
    await waitFor('(out.match(/"msg":"config reloaded"/g) ?? []).length >= 2', () => (out.match(/"msg":"config reloaded"/g) ?? []).length >= 2, 20_000, { detail: () => out.slice(-2000) });
    proc.kill('SIGTERM');
    expect(await new Promise((r) => proc!.once('exit', (c) => r(c)))).toBe(0);
  }, 90_000);
});
