// Revocation without NATS: `portcullis serve --workers 2` shares revocations through
// the node:cluster primary (IPC hub). A revocation at the primary's admin API is refused
// by both workers; `portcullis revoke --admin URL` posts there and exits 0 (admin token from
// $PORTCULLIS_ADMIN_TOKEN by default, as the README shows); bad usage
// (nothing to revoke, a bad time, an unknown kind, no admin token) exits non-zero with a clear message.
// Workers start with the young-generation floor (server.min_semi_space_mb) and their verifier pool still starts.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, runCli, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jtiOf, revoked } from './proxy-fixtures.js';
import { sleep } from './cluster-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };
const TOKEN_ENV = ['--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN'];

interface Answer { status: number; challenge: string; path: string }

describe('serve --workers 2 without NATS', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;
  let n = 0;

  /** One request on a fresh connection (so SO_REUSEPORT spreads them over both workers), on a unique path. */
  async function once(token: string): Promise<Answer> {
    const path = `/api/w/${++n}`;
    const r = await request(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
    await r.body.dump();
    return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? ''), path };
  }
  
  /** Access-log lines (status, worker pid) of these request paths, once all are logged (≤ 10 s: the workers' lines come through pipes, late on a loaded machine). */
  async function logged(paths: readonly string[]): Promise<Array<{ path: string; status: number; pid: number }>> {
    const want = new Set(paths);
    for (const end = Date.now() + 10_000; Date.now() < end;) {
      const lines = proxy.logs().filter((l) => l.msg === 'request' && want.has(String(l.path)));
      if (lines.length === want.size) {
        const byPath = new Map(lines.map((l) => [String(l.path), l]));
        return paths.map((p) => ({ path: p, status: Number(byPath.get(p)!.status), pid: Number(byPath.get(p)!.pid) }));
      }
      await sleep(20);
    }
    throw new Error('access log lines missing');
  }

  /**
   * Poll with fresh connections until `count` refusals in a row (a wait of ≤ 10 s from `t0`, not a
   * speed bound: the delay is printed; a loaded machine can take seconds), then
   * check from the access log that each worker refused and, once it had, never answered 200 again.
   */
  async function refusedByBothWorkers(token: string, t0: number, count = 40): Promise<number> {
    const seen: Answer[] = [];
    let run = 0;
    let firstRefusal = 0;
    while (run < count) {
      const a = await once(token);
      seen.push(a);
      if (revoked(a)) { run++; firstRefusal ||= performance.now() - t0; } else { run = 0; expect(a.status).toBe(200); }
      if (run === 0 && performance.now() - t0 > 10_000) throw new Error('the workers still accept the token 10 s after the revocation');
    }
    const lines = await logged(seen.map((a) => a.path));
    const pids = new Set(lines.slice(-count).map((l) => l.pid));
    expect(pids.size, 'both workers answered among the refusals').toBe(2);
    for (const pid of pids) {
      const mine = lines.filter((l) => l.pid === pid);
      const first = mine.findIndex((l) => l.status === 401);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(mine.slice(first).every((l) => l.status === 401)).toBe(true);
    }
    return firstRefusal;
  }

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    const config = {
      server: { listen: { host: '127.0.0.1', port: 0 } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      upstreams: { app: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      log: { level: 'info', access: true },
      verifier: { pool_size: 1 },
    };
    proxy = await startProxy(config, { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    for (const end = Date.now() + 20_000; Date.now() < end;) {
      const r = await request(`${proxy.adminUrl}/readyz`);
      await r.body.dump();
      if (r.statusCode === 200) return;
      await sleep(25);
    }
    throw new Error(`not ready: ${proxy.output().slice(-2000)}`);
  }, 90_000);

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('a revocation at the primary\'s admin API is refused by both workers', async () => {
    const tok = await as.issueJwt({ sub: 'w-user' });
    const warm = await Promise.all(Array.from({ length: 20 }, () => once(tok)));
    expect(warm.every((a) => a.status === 200)).toBe(true);
    expect(new Set((await logged(warm.map((a) => a.path))).map((l) => l.pid)).size).toBe(2);
    const t0 = performance.now();
    const r = await request(`${proxy.adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ kind: 'jti', value: jtiOf(tok) }),
    });
    const body = (await r.body.json()) as { revocation: { id: string }; persisted: unknown };
    expect(r.statusCode).toBe(201);
    expect(body.persisted).toBeNull(); // no stream without NATS
    const delay = await refusedByBothWorkers(tok, t0);
    // eslint-disable-next-line no-console
    console.log(`workers: first refusal ${delay.toFixed(1)} ms after the POST was sent`);
    const list = await request(`${proxy.adminUrl}/revocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await list.body.json()) as { entries: Array<{ id: string }> }).entries.map((e) => e.id)).toContain(body.revocation.id);
  });

  it('every worker runs with the young-generation floor (server.min_semi_space_mb, default 16 MB), and still verifies tokens on its pool', async () => {
    const tok = await as.issueJwt({ sub: 'young-gen' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => once(tok)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const pids = new Set((await logged(answers.map((a) => a.path))).map((l) => l.pid));
    expect(pids.size).toBe(2);
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--min-semi-space-size=16');
  });

  it('`portcullis revoke --admin URL --jti X` (README form: token from $PORTCULLIS_ADMIN_TOKEN) exits 0 and both workers refuse the token', async () => {
    const tok = await as.issueJwt({ sub: 'cli-user' });
    for (let i = 0; i < 6; i++) expect((await once(tok)).status).toBe(200);
    const t0 = performance.now();
    const out = await runCli(['revoke', '--admin', proxy.adminUrl, '--jti', jtiOf(tok), '--reason', 'cli'], { PORTCULLIS_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(`revoked jti ${jtiOf(tok)}`);
    await refusedByBothWorkers(tok, t0, 20);
  });

  it('`portcullis revoke --admin URL --admin-token-env NAME --sub S` exits 0 and both workers refuse the subject\'s tokens', async () => {
    const tok = await as.issueJwt({ sub: 'cli-sub', iat: Math.floor(Date.now() / 1000) - 5 });
    for (let i = 0; i < 6; i++) expect((await once(tok)).status).toBe(200);
    const out = await runCli(['revoke', '--admin', proxy.adminUrl, ...TOKEN_ENV, '--sub', 'cli-sub', '--before', 'now'], { ...ENV, PORTCULLIS_ADMIN_TOKEN: '' });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('revoked sub cli-sub');
    await refusedByBothWorkers(tok, performance.now(), 20);
  });

  it('`portcullis revoke --token T --admin URL --config FILE` hashes locally and takes the admin token variable from the config', async () => {
    const tok = await as.issueJwt({ sub: 'raw-user' });
    for (let i = 0; i < 6; i++) expect((await once(tok)).status).toBe(200);
    const out = await runCli(['revoke', '--token', tok, '--admin', proxy.adminUrl, '--config', proxy.configPath], ENV);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout + out.stderr).not.toContain(tok);
    await refusedByBothWorkers(tok, performance.now(), 20);
  });

  it('bad usage exits non-zero with a clear message and revokes nothing', async () => {
    const before = (await (await request(`${proxy.adminUrl}/revocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { total: number };
    const cases: Array<{ args: string[]; env?: Record<string, string>; code: number; message: RegExp }> = [
      { args: ['--admin', proxy.adminUrl, ...TOKEN_ENV], code: 2, message: /nothing to revoke: give one of --jti, --token, --sub, --client, --kid/ },
      { args: ['--sub', 'x', '--before', 'yesterday', '--admin', proxy.adminUrl, ...TOKEN_ENV], code: 2, message: /--before: "yesterday" is not a time/ },
      { args: ['--user', 'x', '--admin', proxy.adminUrl, ...TOKEN_ENV], code: 2, message: /Unknown option '--user'/ },
      { args: ['--jti', 'x', '--admin', proxy.adminUrl], env: { PORTCULLIS_ADMIN_TOKEN: '' }, code: 2, message: /environment variable PORTCULLIS_ADMIN_TOKEN \(admin token\) is not set: export it, or name another variable with --admin-token-env NAME/ },
      { args: ['--jti', 'x', '--admin', proxy.adminUrl, '--admin-token-env', 'PT_WRONG'], env: { PT_WRONG: 'not-the-token' }, code: 1, message: /admin API answered 401/ },
    ];
    const outs = await Promise.all(cases.map((c) => runCli(['revoke', ...c.args], { ...ENV, ...(c.env ?? {}) })));
    for (const [i, c] of cases.entries()) {
      const out = outs[i]!;
      expect(out.code, `${c.args.join(' ')}: ${out.stderr}`).toBe(c.code);
      expect(out.stderr).toMatch(c.message);
      expect(out.stderr).toMatch(/^portcullis: /);
    }
    // the admin API refuses an unknown kind naming the field
    const bad = await request(`${proxy.adminUrl}/revocations`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ kind: 'user', value: 'x' }) });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { message: string }).message).toMatch(/kind: expected one of jti, token, sub, client_id, kid, sid, sub_without_sid, got "user"/);
    const after = (await (await request(`${proxy.adminUrl}/revocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { total: number };
    expect(after.total).toBe(before.total);
  });
});
