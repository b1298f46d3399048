// `serve --watch` against a config file caught half-written: a prefix of a block-style YAML file is
// often still valid with less in it (a `scopes` list cut after its first item). A writer that holds the
// file open between its writes must never get that prefix applied, not even for a moment. And with
// --workers, a change the workers could not take at once (503) is applied once they can.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, writeConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { workerPids, workersReady } from '../../helpers/worker-processes.js';

let as: AuthServer;
let echo: EchoUpstream;
let reader: string; // scope orders:read only

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/partial' }), startEchoUpstream({ name: 'echo' })]);
  reader = await as.issueJwt({ scope: 'orders:read' });
});
afterAll(async () => { await Promise.all([as?.close(), echo?.close()]); });

/** The strict route last, its scope list last: a cut after `- orders:read` is valid YAML, and weaker. */
function configText(extraRoute: boolean): string {
  return stringify({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    log: { level: 'info', access: true },
    verifier: { pool_size: 1 },
    issuers: { demo: issuerFor(as) },
    upstreams: { app: { targets: [echo.url] } },
    routes: [
      ...(extraRoute ? [{ name: 'added', match: { path: '/added/*' }, upstream: 'app', auth: 'none' }] : []),
      { name: 'r', match: { path: '/r/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read', 'orders:admin'] } } },
    ],
  });
}

const logged = (p: ProxyProcess, msg: string): number => p.logs().filter((l) => l.msg === msg).length;

// one process watches for itself; with --workers the primary watches and reloads every worker
describe.each([{ mode: 'single process', args: [] as string[] }, { mode: '--workers 2', args: ['--workers', '2'] }])('serve --watch ($mode) and a file still being written', ({ args }) => {
  it('a valid but weaker prefix held open by its writer is not applied; the whole file is, once closed', async () => {
    const full = configText(true);
    const cut = full.indexOf('- orders:read\n') + '- orders:read\n'.length;
    expect(cut).toBeGreaterThan(14);
    const prefix = full.slice(0, cut);
    expect(prefix).not.toContain('orders:admin');
    const file = writeConfig(configText(false));
    const proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--watch', ...args], timeoutMs: 40_000 });
    let fd: number | null = null;
    try {
      await waitReady(proxy, 30_000);
      const status = async (path: string, token?: string): Promise<number> => (await call(`${proxy.url}${path}`, token === undefined ? {} : { token })).status;
      expect(await status('/r/x', reader)).toBe(403); // orders:admin missing

      // an editor or `cat new.yaml > config.yaml`: truncate, write part of the file, and (here) stop there
      fd = openSync(file, 'w');
      writeSync(fd, prefix);
      // the watcher has looked at the change: it either waits for the writer or has reloaded the prefix
      await waitFor('the watcher to act on the prefix', () =>
        logged(proxy, 'config file changed: waiting for the process writing it to close it') + logged(proxy, 'config reloaded') >= 1, 10_000);
      // fresh connections: with --workers each may reach another worker
      for (let i = 0; i < 6; i++) {
        expect((await call(`${proxy.url}/r/x`, { token: reader, fresh: true })).status).toBe(403); // before: 200, the prefix's `all: [orders:read]` applied
        expect((await call(`${proxy.url}/added/x`, { fresh: true })).status).toBe(404);
      }
      expect(logged(proxy, 'config reloaded')).toBe(0);

      writeSync(fd, full.slice(cut));
      closeSync(fd);
      fd = null;
      await waitFor('the whole file to be applied', async () => (await status('/added/x')) === 200, 10_000);
      for (let i = 0; i < 6; i++) {
        expect((await call(`${proxy.url}/r/x`, { token: reader, fresh: true })).status).toBe(403);
        expect((await call(`${proxy.url}/added/x`, { fresh: true })).status).toBe(200);
      }
    } finally {
      if (fd !== null) closeSync(fd);
      await proxy.stop();
    }
  });
});

// a --watch reload that a worker could not take at that moment (paused: it did not answer within 5 s; or
// restarting) is refused 503 with nothing changed — before, --watch never tried again: the file on disk was
// the new one and every worker served the old until the file changed once more
describe('serve --watch --workers 2 and a worker that cannot take the reload', () => {
  it('the change is applied once the worker answers again', async () => {
    const file = writeConfig(configText(false));
    const proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--watch', '--workers', '2'], timeoutMs: 40_000 });
    let paused: number | null = null;
    try {
      await workersReady(proxy, 2, 30_000);
      const status = async (path: string, token?: string): Promise<number> => (await call(`${proxy.url}${path}`, token === undefined ? {} : { token })).status;
      expect(await status('/added/x')).toBe(404);
      paused = workerPids(proxy.proc.pid!)[0]!;
      process.kill(paused, 'SIGSTOP');
      writeFileSync(file, configText(true));
      await waitFor('the reload refused: a worker did not answer', () => logged(proxy, 'reload refused: a worker did not answer, keeping the running config') >= 1, 20_000);
      process.kill(paused, 'SIGCONT');
      paused = null;
      await waitFor('the changed file applied', async () => (await status('/added/x')) === 200, 20_000);
      for (let i = 0; i < 6; i++) expect((await call(`${proxy.url}/added/x`, { fresh: true })).status).toBe(200);
    } finally {
      if (paused !== null) process.kill(paused, 'SIGCONT');
      await proxy.stop();
    }
  });
});
