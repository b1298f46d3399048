// The read-only scrape credential (`admin.metrics_token_env`): it reads GET /metrics and nothing
// else — every other admin endpoint answers it 403 insufficient_scope (nothing changed, the
// refused write audited) — while the admin token keeps reading /metrics. One process and --workers 2.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, waitReady, writeConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

const METRICS_TOKEN = 'metrics-scrape1'; // 15 bytes: accepted on loopback only
const METRICS_ENV = { PORTCULLIS_TEST_METRICS_TOKEN: METRICS_TOKEN };

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

async function call(p: ProxyProcess, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(`${p.adminUrl}${path}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

function records(file: string): Array<Record<string, any>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
}

/** Every admin endpoint but /metrics, /healthz and /readyz, with a body that would be accepted from the admin token. */
const OTHERS: ReadonlyArray<readonly [string, string, unknown?]> = [
  ['GET', '/cache/stats'],
  ['GET', '/revocations'],
  ['GET', '/policy'],
  ['POST', '/reload'],
  ['POST', '/revocations', { kind: 'sub', value: 'victim' }],
  ['POST', '/explain', { method: 'GET', path: '/x' }],
  ['POST', '/policy', { routes: [] }],
];

describe.each([
  ['one process', [] as string[]],
  ['--workers 2', ['--workers', '2']],
])('admin.metrics_token_env, %s', (_name, args) => {
  let proxy: ProxyProcess;
  let file: string;

  beforeAll(async () => {
    file = join(tempDir('portcullis-metrics-token-'), 'audit.log');
    const cfg = baseConfig(echo.url, { log: { level: 'info', access: false, audit: { file } } });
    (cfg.admin as Record<string, unknown>).metrics_token_env = 'PORTCULLIS_TEST_METRICS_TOKEN';
    proxy = await startProxy(cfg, { args, env: METRICS_ENV, timeoutMs: 30_000 });
    await waitReady(proxy); // the /readyz verdict below is read as `ready: true` (workers finish their replay after "listening")
  });
  afterAll(async () => { await proxy?.stop(); });

  it('the metrics token scrapes /metrics; the admin token still does; a wrong one is 401', async () => {
    const m = await call(proxy, 'GET', '/metrics', METRICS_TOKEN);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(m.text).toContain('portcullis_requests_total');
    expect((await call(proxy, 'GET', '/metrics', ADMIN_TOKEN)).status).toBe(200);
    expect((await call(proxy, 'GET', '/metrics', `${METRICS_TOKEN}x`)).status).toBe(401);
    expect((await call(proxy, 'GET', '/metrics', null)).status).toBe(401);
  });

  it('the metrics token is refused 403 insufficient_scope on every other endpoint, and changes nothing', async () => {
    for (const [method, path, body] of OTHERS) {
      const r = await call(proxy, method, path, METRICS_TOKEN, body);
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(403);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="portcullis-admin", error="insufficient_scope"');
      expect(JSON.parse(r.text)).toMatchObject({ error: 'insufficient_scope', code: 'PORTCULLIS_ERR_ADMIN_FORBIDDEN' });
    }
    // a method /metrics does not take is still a call the metrics token may not make
    expect((await call(proxy, 'POST', '/metrics', METRICS_TOKEN, {})).status).toBe(403);
    // nothing happened: no revocation held, the config version unchanged
    const held = await call(proxy, 'GET', '/revocations', ADMIN_TOKEN);
    expect(held.status).toBe(200);
    expect(held.text).not.toContain('victim');
    const ready = JSON.parse((await call(proxy, 'GET', '/readyz', ADMIN_TOKEN)).text);
    expect(ready.config_version).toBe(1);
    // /readyz gives the metrics token the verdict only, as anyone
    expect(JSON.parse((await call(proxy, 'GET', '/readyz', METRICS_TOKEN)).text)).toEqual({ ready: true });
  });

  it('a refused write by the metrics token is audited as such, without the token', async () => {
    expect((await call(proxy, 'POST', '/revocations', METRICS_TOKEN, { kind: 'jti', value: 'audited-refusal' })).status).toBe(403);
    const refused = (): Record<string, any> | undefined => records(file).find((x) => x.action === 'revocation.add' && x.actor?.kind === 'metrics_token');
    await waitFor('refused() !== undefined', () => refused() !== undefined, 5_000);
    expect(refused()).toMatchObject({ outcome: 'refused', status: 403, actor: { kind: 'metrics_token' } });
    expect(typeof refused()!.actor.token).toBe('string');
    expect(readFileSync(file, 'utf8')).not.toContain(METRICS_TOKEN);
    expect(proxy.output()).not.toContain(METRICS_TOKEN);
  });
});

describe('admin.metrics_token_env: a token that cannot be a scrape token is refused at start', () => {
  const config = (host: string): string => {
    const cfg = baseConfig(echo.url);
    cfg.admin = { listen: { host, port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN', metrics_token_env: 'PORTCULLIS_TEST_METRICS_TOKEN' };
    return writeConfig(cfg);
  };

  it('the admin token\'s own value (it would carry every admin right): serve exits 2 naming the field, not the value', async () => {
    const r = await runCli(['serve', '--config', config('127.0.0.1')], { ...ADMIN_ENV, PORTCULLIS_TEST_METRICS_TOKEN: ADMIN_TOKEN });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('admin.metrics_token_env: PORTCULLIS_TEST_METRICS_TOKEN holds the admin token');
    expect(r.stderr).not.toContain(ADMIN_TOKEN);
    expect(r.stdout).not.toContain('"listening"');
  });

  it('under 16 bytes on an admin API beyond loopback, as the admin token', async () => {
    const long = { PORTCULLIS_TEST_ADMIN_TOKEN: 'a'.repeat(32) };
    const r = await runCli(['check-config', config('0.0.0.0')], { ...long, ...METRICS_ENV });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`admin.metrics_token_env: PORTCULLIS_TEST_METRICS_TOKEN must hold at least 16 bytes when the admin API listens beyond loopback (has ${METRICS_TOKEN.length})`);
    expect((await runCli(['check-config', config('0.0.0.0')], { ...long, PORTCULLIS_TEST_METRICS_TOKEN: 'm'.repeat(16) })).code).toBe(0);
  }, 60_000);
});
