// Members whose own NATS servers answer while a third server of the cluster is frozen (SIGSTOP: it keeps
// its sockets, like a host whose link is cut, not yet seen dead by the others). A member's POST /policy
// read the bucket by a direct get and an ordered consumer, which any replica serves: about one read in
// three went to the frozen one and failed with TIMEOUT (503). Pushes reach every member, also the one
// whose live watch (an ordered consumer) sits on the frozen server: the leader probe fetches them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { placeStreamLeader } from '../../helpers/nats-leaders.js';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { policyBucket } from '../../../cluster/policy/index.js';
import { admin } from './proxy-fixtures.js';
import { ENV, QUICK_BEAT, localConfig, policyCli, policyDoc, readyz, writePolicy } from './policy-fixtures.js';

describe('cluster policy: members while a peer NATS server is frozen', () => {
  let nats: NatsCluster;
  let as: AuthServer;
  let echo: EchoUpstream;
  const members: ProxyProcess[] = [];
  let cli = '';
  let kv = '';
  const doc = (n: number): Record<string, unknown> => policyDoc(as.issuer, echo.url, { scopes: [`s${n}`] });
  const version = async (p: ProxyProcess): Promise<number> => (await admin(p, 'GET', '/policy')).body.version as number;
  /** Every member runs version `v` (a frozen watch must not leave one on an older one). */
  const allRun = (v: number): Promise<number> => waitFor(`every member to run version ${v}`, async () => (await Promise.all(members.map(version))).every((x) => x === v), 30_000, {
    detail: () => members.map((m) => m.output().slice(-600)).join('\n---\n'),
  });

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsCluster(3), startAuthServer(), startEchoUpstream()]);
    const prefix = subjectPrefix('pmp');
    kv = `KV_${policyBucket(prefix)}`;
    // the CLI and the members know only n1 and n2; n3 is the one frozen (each member's watch may sit on it)
    cli = writeConfig(localConfig([nats.urls[0]!, nats.urls[1]!], prefix, {}, {}, QUICK_BEAT));
    const r = await policyCli(['push', '--config', cli, '--policy', writePolicy(doc(1))]);
    expect(r.code, r.stderr).toBe(0);
    members.push(...await Promise.all([nats.urls[0]!, nats.urls[1]!].map((u) =>
      startProxy(null, { configPath: writeConfig(localConfig([u], prefix, {}, {}, QUICK_BEAT)), env: ENV, timeoutMs: 30_000 }))));
    for (const p of members) await waitFor('member ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
  }, 90_000);

  afterAll(async () => {
    nats?.servers[2]?.resume();
    await Promise.all(members.map((p) => p.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('takes POST /policy on a member every time and applies it on every member while n3, leading nothing, is frozen', async () => {
    await placeStreamLeader(nats, kv, (n) => n !== 'n3');
    nats.servers[2]!.pause();
    try {
      // before: each POST read the latest by a direct get and the history by a consumer; ~1 in 3 of each went to n3
      for (let v = 2; v <= 5; v++) {
        const m = members[v % 2]!;
        const r = await admin(m, 'POST', `/policy?base=${v - 1}`, doc(v));
        expect(r.body, `POST /policy for version ${v}: ${JSON.stringify(r.body)}`).toMatchObject({ pushed: true, version: v });
        await allRun(v);
      }
      const r = await policyCli(['push', '--config', cli, '--policy', writePolicy(doc(6)), '--base', '5']);
      expect(r.code, r.stderr).toBe(0);
      await allRun(6);
    } finally {
      nats.servers[2]!.resume();
    }
  }, 120_000);

  it('applies a CLI push on every member while n3, leading the bucket, is frozen', async () => {
    await waitFor('n3 to answer again', async () => (await fetch(`http://127.0.0.1:${nats.servers[2]!.monitorPort}/healthz`).then((x) => x.ok).catch(() => false)), 30_000);
    await placeStreamLeader(nats, kv, (n) => n === 'n3');
    const v = await version(members[0]!);
    nats.servers[2]!.pause();
    try {
      // the push waits for JetStream to elect another leader (the CLI's reads ask again for 20 s)
      const r = await policyCli(['push', '--config', cli, '--policy', writePolicy(doc(v + 1)), '--base', String(v)]);
      expect(r.code, r.stderr).toBe(0);
      await allRun(v + 1);
      const p = await admin(members[0]!, 'POST', `/policy?base=${v + 1}`, doc(v + 2));
      expect(p.body, JSON.stringify(p.body)).toMatchObject({ pushed: true, version: v + 2 });
      await allRun(v + 2);
    } finally {
      nats.servers[2]!.resume();
    }
  }, 120_000);
});
