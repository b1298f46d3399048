// A member starting with a shorter `cluster.heartbeat_ms` (100 ms) than its running peer (the default 1 s),
// without a state file, after a bucket writer without the bus key copied version 1 back onto `current` and
// flushed the history: it still hears the peer's version and refuses the old one (before: it listened 150 ms,
// heard nobody, and served version 1, which let every request through).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers } from 'nats';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { freePort } from '../../helpers/ports.js';
import { CLI, startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { reap } from '../../helpers/reaper.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, openPolicyDoc, policyDoc, pushPolicies, readyz } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('cluster policy: a member on a shorter heartbeat period than its peer', () => {
  let servers: BusServers;
  const prefix = subjectPrefix('pmb');
  const bucket = `${prefix.toUpperCase()}_POLICY`;
  beforeAll(async () => { servers = await startBusServers(); }, 60_000);
  afterAll(async () => { await servers?.stop(); });

  it('holds to the version its 1 s peer runs, not the old version copied back', async () => {
    const { nats, as, echo, started } = servers;
    const cliConfig = writeConfig(localConfig([nats.url], prefix));
    // version 1 lets anyone through /api; version 2 needs orders:write
    await pushPolicies(cliConfig, [openPolicyDoc(as.issuer, echo.url), policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] })]);
    const peer = await startProxy(null, { configPath: writeConfig(localConfig([nats.url], prefix)), env: ENV, timeoutMs: 30_000 });
    started.push(peer);
    await waitFor('the peer on version 2', async () => (await admin(peer, 'GET', '/policy')).body.version === 2, 20_000);

    // version 1's sealed bytes put back on `current` with a rollup: the history holds nothing newer
    const nc = await connect({ servers: [nats.url] });
    try {
      const kv = await nc.jetstream().views.kv(bucket, { bindOnly: true });
      const hist: Uint8Array[] = [];
      for await (const e of await kv.history({ key: 'current' })) hist.push(e.value);
      const h = headers();
      h.set('Nats-Rollup', 'sub');
      await nc.jetstream().publish(`$KV.${bucket}.current`, hist[0]!, { headers: h });
    } finally {
      await nc.close();
    }

    const adminPort = await freePort();
    const cfg = writeConfig({ ...localConfig([nats.url], prefix, {}, {}, { heartbeat_ms: 100 }), admin: { listen: { host: '127.0.0.1', port: adminPort }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' } });
    const proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', cfg], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    try {
      // before: "listening" with version 1 and /api/x answered 200 without a token
      await waitFor('version 1 refused as older than the peer\'s', async () => /bucket entry ignored at start/.test(out) || /"msg":"listening"/.test(out), 20_000);
      expect(out).not.toMatch(/"msg":"listening"/);
      const rz = await readyz(`http://127.0.0.1:${adminPort}`);
      expect(rz.status).toBe(503);
      expect(rz.body.policy.waiting_for).toMatch(/latest version 1 is below version 2, the version peer .* runs/);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  }, 60_000);
});
