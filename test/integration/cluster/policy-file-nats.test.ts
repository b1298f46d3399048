// GET /policy on a NATS member whose policy comes from its file (`cluster.policy.source: file`, the
// default): the running policy's digest, as without NATS; POST /policy is refused (409), since each
// member reads its own file. Before, both were 404 "no admin endpoint /policy", single process and --workers.
// And `policy status` with that file says why it lists no member, names the instances heard and exits 0: nothing
// is wrong (it said only "no member reported", exit 1, as if the bus were broken; then explained, still exit 1,
// which failed an operator's `policy status && deploy` script on a healthy file-policy cluster).
// And `policy push` with that file publishes but warns on stderr that an instance run with it keeps its own file's
// policy (before: "pushed version 1", nothing else, and no member changed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_TOKEN, BUS_AUTH, BUS_ENV, baseConfig, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { policyCli, readyz, statusOf } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let nats: NatsServer & { stop(): Promise<void> };
let echo: EchoUpstream;
let single: ProxyProcess;
let workers: ProxyProcess;
let configFile: string;
let config: Record<string, any>;

beforeAll(async () => {
  [nats, echo] = await Promise.all([startNatsServer(), startEchoUpstream()]);
  config = baseConfig(echo.url, { cluster: { nats: { servers: [nats.url] }, auth: BUS_AUTH } });
  configFile = writeConfig(config);
  [single, workers] = await Promise.all([
    startProxy(config, { env: BUS_ENV, timeoutMs: 30_000 }),
    startProxy(config, { env: BUS_ENV, args: ['--workers', '2'], timeoutMs: 40_000 }),
  ]);
  for (const p of [single, workers]) await waitFor('ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
}, 60_000);

afterAll(async () => {
  await Promise.all([single?.stop(), workers?.stop()]);
  await Promise.all([nats?.stop(), echo?.close()]);
});

const call = async (p: ProxyProcess, method: 'GET' | 'POST', body?: unknown): Promise<{ status: number; body: any }> => {
  const r = await request(`${p.adminUrl}/policy`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: r.statusCode, body: await r.body.json() };
};

describe('/policy on a NATS member with source: file', () => {
  it('GET gives the running policy digest, the same on both instances of one file; POST is 409 and changes nothing', async () => {
    const [a, b] = await Promise.all([call(single, 'GET'), call(workers, 'GET')]);
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body).toEqual({ source: 'file', digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(b.status, JSON.stringify(b.body)).toBe(200);
    expect(b.body.digest).toBe(a.body.digest);

    const policy = { upstreams: { app: { targets: [echo.url] } }, routes: [{ name: 'only', match: { path: '/only/*' }, upstream: 'app', auth: 'none' }] };
    for (const p of [single, workers]) {
      const r = await call(p, 'POST', policy);
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body).toMatchObject({ applied: false, error: 'conflict' });
      expect(r.body.message).toMatch(/cluster\.policy\.source: file/);
      expect(await statusOf(p, '/anything')).toBe(200);
    }
    expect((await call(single, 'GET')).body.digest).toBe(a.body.digest);
  });

  it('policy status names the two instances reading their own file, and says FILE has source: file', async () => {
    const [r, j] = await Promise.all([
      policyCli(['status', '--config', configFile, '--wait', '2500'], BUS_ENV),
      policyCli(['status', '--config', configFile, '--wait', '2500', '--json'], BUS_ENV),
    ]);
    // nothing to compare and nothing wrong: no instance takes the cluster's policy
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(j.code, j.stdout + j.stderr).toBe(0);
    expect(r.stdout).toMatch(/has cluster\.policy\.source: file/);
    expect(r.stdout).toMatch(/no member takes the cluster policy \(source: cluster\): nothing to compare/);
    expect(r.stdout).toMatch(/^2 instance\(s\) heard with policy from their own file/m);
    expect(JSON.parse(j.stdout)).toMatchObject({ members: [], agree: null, file_members: [expect.any(String), expect.any(String)] });
  });

  it('policy push with that file publishes, exits 0 and warns on stderr that its instances keep their own file; with source: cluster, no warning', async () => {
    const r = await policyCli(['push', '--config', configFile, '--by', 'ops'], BUS_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pushed version 1 /m);
    expect(r.stderr).toMatch(/warning: .* has cluster\.policy\.source: file — an instance started with it reads the policy from its own file and does not apply version 1/);
    // what the warning says: the members with this file still run its policy
    expect((await call(single, 'GET')).body.source).toBe('file');
    expect(await statusOf(workers, '/anything')).toBe(200);

    const policyFile = writeConfig({ upstreams: config.upstreams, routes: config.routes });
    const clusterFile = writeConfig({ ...config, cluster: { ...config.cluster, policy: { source: 'cluster' } }, upstreams: undefined, routes: undefined });
    const c = await policyCli(['push', '--config', clusterFile, '--policy', policyFile, '--by', 'ops'], BUS_ENV);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^pushed version 2 /m);
    expect(c.stderr).not.toMatch(/warning/);
  });
});
