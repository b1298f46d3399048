// Which policy answered: with `cluster.policy.response_header` every response the proxy
// forwards or produces itself (200 relayed, 401, 404, 503) carries `X-Portcullis-Policy:
// v<N> sha256:<12 hex>` of the version the request was evaluated under — one process and
// `--workers 2` alike — and every access log line names it; with the header off nothing is
// written. Single-file instances name their config version instead (`config-<N> sha256:…`).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { baseConfig, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { promtoolCheck } from '../../helpers/promtool.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyCli, policyDoc, readyz, writePolicy, QUICK_BEAT } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

/** GET `path`: status and the X-Portcullis-Policy header (null when absent). */
async function policyOf(p: ProxyProcess, path: string, token?: string): Promise<{ status: number; header: string | null }> {
  const r = await request(`${p.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  await r.body.dump();
  const h = r.headers['x-portcullis-policy'];
  return { status: r.statusCode, header: h === undefined ? null : String(h) };
}

/** The access log lines of `path` (the request's `policy` field among them). */
const accessLines = (p: ProxyProcess, path: string): Array<Record<string, unknown>> => p.logs().filter((l) => l.msg === 'request' && l.path === path);

describe('X-Portcullis-Policy and the access log with cluster policy', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let prefix = '';
  let cliConfig = '';
  let single: ProxyProcess;
  let workers: ProxyProcess;
  let quiet: ProxyProcess;
  const digests: string[] = [];

  const push = async (doc: unknown): Promise<string> => {
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(doc)]);
    expect(r.code, r.stderr).toBe(0);
    const m = /pushed version (\d+) \(digest ([0-9a-f]{12})/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    digests[Number(m![1])] = m![2]!;
    return `v${m![1]} sha256:${m![2]}`;
  };

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    prefix = `pth${Math.random().toString(36).slice(2, 8)}`;
    cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
    await push(policyDoc(as.issuer, echo.url));
    const on = (): Record<string, unknown> => {
      const c = localConfig([nats.url], prefix, { response_header: true }, {}, QUICK_BEAT);
      return { ...c, log: { level: 'info', access: true } };
    };
    [single, workers, quiet] = await Promise.all([
      startProxy(on(), { env: ENV, timeoutMs: 30_000 }),
      startProxy(on(), { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 }),
      startProxy({ ...localConfig([nats.url], prefix, {}, {}, QUICK_BEAT), log: { level: 'info', access: true } }, { env: ENV, timeoutMs: 30_000 }),
    ]);
    await Promise.all([single, workers, quiet].map((p) => waitFor(`${p.url} ready`, async () => (await readyz(p.adminUrl)).status === 200, 40_000)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([single, workers, quiet].map((p) => p?.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('every answer — relayed 200, 401 without a token, 404 without a route — names version 1; the access log line too', async () => {
    const v1 = `v1 sha256:${digests[1]}`;
    const token = await as.issueJwt();
    for (const p of [single, workers]) {
      // several requests: with --workers 2 both workers answer some of them
      for (let i = 0; i < 6; i++) expect(await policyOf(p, '/api/a', token)).toEqual({ status: 200, header: v1 });
      expect(await policyOf(p, '/api/b')).toEqual({ status: 401, header: v1 });
      expect(await policyOf(p, '/nowhere')).toEqual({ status: 404, header: v1 });
      await waitFor('the access log lines', async () => accessLines(p, '/nowhere').length > 0 && accessLines(p, '/api/b').length > 0, 5_000);
      for (const path of ['/api/a', '/api/b', '/nowhere']) for (const l of accessLines(p, path)) expect(l.policy).toBe(v1);
    }
    const g = await admin(single, 'GET', '/policy');
    expect(`v${g.body.version} sha256:${String(g.body.digest).slice(0, 12)}`).toBe(v1);
  });

  it('after a push the header and the log name the new version; with response_header off no header is written, the log still names it', async () => {
    const v2 = await push(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }));
    const token = await as.issueJwt({ scope: 'orders:read' });
    for (const p of [single, workers]) {
      await waitFor('version 2 to be applied', async () => (await policyOf(p, '/api/c', token)).status === 403, 15_000);
      for (let i = 0; i < 6; i++) expect(await policyOf(p, '/api/c', token)).toEqual({ status: 403, header: v2 });
      expect(await policyOf(p, '/open/x')).toEqual({ status: 200, header: v2 });
    }
    await waitFor('version 2 at the instance without the header', async () => (await policyOf(quiet, '/api/c', token)).status === 403, 15_000);
    expect(await policyOf(quiet, '/open/y')).toEqual({ status: 200, header: null });
    await waitFor('its access log line', async () => accessLines(quiet, '/open/y').length > 0, 5_000);
    expect(accessLines(quiet, '/open/y')[0]!.policy).toBe(v2);
    // the --workers instance's primary reports for its workers on its heartbeat
    const s = await policyCli(['status', '--wait', '1000', '--config', cliConfig, '--json']);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    const st = JSON.parse(s.stdout) as { members: Array<{ role: string; version: number }> };
    expect(st.members.map((m) => m.role).sort()).toEqual(['primary', 'single', 'single']);
    expect(st.members.every((m) => m.version === 2)).toBe(true);
  });

  it('with --workers the primary exports the policy metrics through the family table: one family each, promtool-clean', async () => {
    const r = await request(`${workers.adminUrl}/metrics`, { headers: { authorization: 'Bearer test-admin-token' } });
    const text = await r.body.text();
    expect(text).toMatch(/^portcullis_policy_version 2$/m);
    expect(text).toMatch(/^portcullis_policy_applies_total [1-9]\d*$/m);
    expect(text).toMatch(/^portcullis_policy_refusals_total\{reason="environment"\} 0$/m);
    expect(text).not.toMatch(/portcullis_policy_policy_|portcullis_policy_refusals_invalid/);
    expect(text.match(/^# TYPE portcullis_policy_version /gm)).toHaveLength(1);
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });
});

describe('X-Portcullis-Policy of a single-file instance (serve --workers 2)', () => {
  let forging: Server;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    // an upstream that sends its own X-Portcullis-Policy: the client must only see the proxy's
    forging = createServer((_req, res) => { res.writeHead(200, { 'x-portcullis-policy': 'v999 sha256:forged', 'content-length': '2' }); res.end('ok'); });
    await new Promise<void>((r) => forging.listen(0, '127.0.0.1', r));
    const port = (forging.address() as { port: number }).port;
    proxy = await startProxy(baseConfig(`http://127.0.0.1:${port}`, {
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
      cluster: { policy: { response_header: true } },
    }), { args: ['--workers', '2'], timeoutMs: 40_000 });
    await waitFor('ready', async () => (await readyz(proxy.adminUrl)).status === 200, 20_000);
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await new Promise((r) => forging?.close(r));
  });

  it('names the config version and the running policy digest (the upstream\'s own copy is dropped); a reload moves it to config-2', async () => {
    const digest = String((await admin(proxy, 'GET', '/policy')).body.digest).slice(0, 12);
    expect(await policyOf(proxy, '/x')).toEqual({ status: 200, header: `config-1 sha256:${digest}` });
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(200);
    for (let i = 0; i < 6; i++) expect(await policyOf(proxy, '/x')).toEqual({ status: 200, header: `config-2 sha256:${digest}` });
  });

  it('the HTTP/2 listener names it too: a relayed answer (the upstream\'s copy dropped) and its own error answers', async () => {
    const digest = String((await admin(proxy, 'GET', '/policy')).body.digest).slice(0, 12);
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const ok = await h2Fetch(origin, { ':method': 'GET', ':path': '/x' });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-portcullis-policy']).toMatch(new RegExp(`^config-\\d+ sha256:${digest}$`));
    const bad = await h2Fetch(origin, { ':method': 'GET', ':path': '/a/%2e%2e/%2fb' });
    expect(bad.status).toBe(400);
    expect(bad.headers['x-portcullis-policy']).toBe(ok.headers['x-portcullis-policy']);
  });
});
