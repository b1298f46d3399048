// Cluster policy versions in the audit trail: `portcullis policy push` writes to the bucket
// without any admin API, so the record of a push is written where it takes effect — every
// member (single process and a --workers primary alike) writes `policy.applied` naming who
// pushed it (the entry's --by), the version before and after and the digest; never the policy.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { ENV, localConfig, policyCli, policyDoc, readyz, writePolicy } from '../cluster/policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const records = (file: string): Array<Record<string, any>> =>
  (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>) : []);

let nats: NatsServer & { stop(): Promise<void> };
let as: AuthServer;
let echo: EchoUpstream;
let cliConfig = '';
const proxies: ProxyProcess[] = [];
const files: string[] = [];

beforeAll(async () => {
  [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
  const prefix = `ptp${Math.random().toString(36).slice(2, 8)}`;
  cliConfig = writeConfig(localConfig([nats.url], prefix));
  const first = await policyCli(['push', '--config', cliConfig, '--by', 'alice', '--policy', writePolicy(policyDoc(as.issuer, echo.url))]);
  expect(first.code, first.stderr).toBe(0);
  for (const args of [[], ['--workers', '2']]) {
    const file = join(tempDir('portcullis-audit-'), 'audit.log');
    files.push(file);
    proxies.push(await startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix, {}, { log: { level: 'warn', access: false, audit: { file } } })), args, env: ENV, timeoutMs: 30_000 }));
  }
  for (const p of proxies) await waitFor('(await readyz(p.adminUrl)).status === 200', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
}, 90_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
});

describe('cluster policy in the audit trail', () => {
  it('a push from the CLI is policy.applied at every member, naming the pusher, before/after and the digest', async () => {
    const r = await policyCli(['push', '--config', cliConfig, '--by', 'bob', '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:read'] }))]);
    expect(r.code, r.stderr).toBe(0);
    for (const file of files) {
      const applied = (): Array<Record<string, any>> => records(file).filter((x) => x.action === 'policy.applied' && x.after?.policy_version === 2);
      await waitFor('applied().length === 1', () => applied().length === 1, 15_000, { detail: () => `no policy.applied v2 in ${file}: ${readFileSync(file, 'utf8')}` });
      const rec = applied()[0]!;
      expect(rec).toMatchObject({ actor: { kind: 'policy_pusher', by: 'bob' }, outcome: 'ok', before: { policy_version: 1 }, after: { policy_version: 2 } });
      expect(rec.detail.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(rec.detail.based_on).toBe(1);
      // the policy itself never enters the trail
      expect(JSON.stringify(rec)).not.toContain('orders:read');
    }
  });
});
