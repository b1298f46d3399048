// Against a NATS without JetStream (nobody answers $JS.API: 503, no responders) or whose account has
// none, the policy CLI and `revoke --config` fail at once (exit 1) naming JetStream, and a member with
// `policy.source: cluster` says so in /readyz and its log. Before, the policy CLI took the bare 503 for
// a leader election: 20 s of retries, then a message about stream leaders and quorums; the member
// warned "NatsError: 503" every 2 s and /readyz said "reading the latest policy version".
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNatsServerWithConfig, type NatsServer } from '../../helpers/nats.js';
import { CLI, runCli, writeConfig } from '../../helpers/proxy-process.js';
import { reap } from '../../helpers/reaper.js';
import { waitFor } from '../../helpers/wait.js';
import { ENV, localConfig, policyCli, readyz, writePolicy } from './policy-fixtures.js';

type Server = NatsServer & { stop(): Promise<void> };
let plain: Server;
let noAccountJs: Server;
let cfg: string;
const prefix = `ptnojs${Math.random().toString(36).slice(2, 8)}`;
const NO_JS = /no JetStream server answered through 127\.0\.0\.1:\d+ \(503, no responders\): is JetStream enabled on the NATS servers\?/;

beforeAll(async () => {
  [plain, noAccountJs] = await Promise.all([
    startNatsServerWithConfig(() => '# JetStream not enabled\n'),
    // JetStream on the server, but the account the user logs in to has none
    startNatsServerWithConfig((at) => `jetstream { store_dir: "${at.storeDir}", max_memory_store: 16MB, max_file_store: 16MB }\naccounts { A: { users: [ { user: a, password: $PT_NATS_PW } ] } }\n`, { PT_NATS_PW: 'pw-nojs' }),
  ]);
  cfg = writeConfig(localConfig([plain.url], prefix));
}, 60_000);
afterAll(async () => { await Promise.all([plain?.stop(), noAccountJs?.stop()]); });

const policy = writePolicy({ upstreams: { app: { targets: ['http://127.0.0.1:9'] } }, routes: [{ name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' }] });

describe('a NATS without JetStream', () => {
  it('policy push, history, status, rollback and revoke --config: exit 1 at once, one message naming JetStream', async () => {
    const runs = await Promise.all([
      policyCli(['push', '--config', cfg, '--policy', policy]),
      policyCli(['history', '--config', cfg]),
      policyCli(['status', '--config', cfg, '--wait', '100']),
      policyCli(['rollback', '--config', cfg, '--to', '1']),
      runCli(['revoke', '--jti', 'no-jetstream', '--config', cfg], ENV),
    ]);
    for (const r of runs) {
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(NO_JS);
      expect(r.stderr).not.toMatch(/leader|quorum|within 20 s/);
    }
  });

  it('JetStream on the server but not for the account: exit 1 naming the account', async () => {
    const acct = writeConfig(localConfig([noAccountJs.url], prefix, {}, {}, { nats: { servers: [noAccountJs.url], user: 'a', password_env: 'PT_NATS_PW' } }));
    const env = { PT_NATS_PW: 'pw-nojs' };
    const runs = await Promise.all([policyCli(['history', '--config', acct], env), runCli(['revoke', '--jti', 'no-account-js', '--config', acct], { ...ENV, ...env })]);
    for (const r of runs) {
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/JetStream answered through 127\.0\.0\.1:\d+: JetStream not enabled for account \(503\): is JetStream enabled for the NATS account cluster\.nats logs in to\?/);
      expect(r.stderr).not.toMatch(/leader|quorum|within 20 s/);
    }
  });

  it('a member with policy.source: cluster stays closed; /readyz and one error log line name JetStream', async () => {
    const adminPort = await freePort();
    const memberCfg = writeConfig({ ...localConfig([plain.url], prefix), admin: { listen: { host: '127.0.0.1', port: adminPort }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' } });
    const proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', memberCfg], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    try {
      const adminUrl = `http://127.0.0.1:${adminPort}`;
      let body: any = null;
      await waitFor('/readyz to name JetStream', async () => {
        const rz = await readyz(adminUrl).catch(() => ({ status: 0, body: null }));
        body = rz.body;
        return rz.status === 503 && NO_JS.test(String(rz.body?.policy?.waiting_for ?? ''));
      }, 20_000, { detail: () => `${JSON.stringify(body)}\n${out.slice(-2000)}` });
      // the periodic "not ready" line (every 5 s) names it too; the bucket was asked again meanwhile
      // (200 ms, 400, 800…) without repeating the error or warning with a bare 503
      await waitFor('the periodic not-ready line', () => /"msg":"not ready: waiting for the cluster policy"/.test(out), 15_000);
      expect(out.split('\n').find((l) => l.includes('not ready: waiting for the cluster policy'))).toMatch(NO_JS);
      const errors = out.split('\n').filter((l) => l.includes('"msg":"policy: cannot open the bucket'));
      expect(errors, out).toHaveLength(1);
      expect(errors[0]).toMatch(NO_JS);
      expect(errors[0]).toMatch(/"level":50/);
      expect(out).not.toMatch(/"msg":"listening"/);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  }, 40_000);
});
