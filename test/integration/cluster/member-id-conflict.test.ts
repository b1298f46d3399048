// Two `serve` instances on one real nats-server given the same `cluster.member_id` (one config file
// shared by two replicas): each ignores heartbeats carrying its own id as its echo, so neither hears
// the other — and each takes the other's DPoP records and cache evictions for its own. They used to
// run side by side without a word; now each counts the other's heartbeats and logs an error naming
// the fix. A member with an id of its own counts nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { memberConfig, metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const CONFLICTS = 'portcullis_cluster_member_id_conflicts_total';
let as: AuthServer;
let echo: EchoUpstream;
let nats: NatsServer & { stop(): Promise<void> };
let a: ProxyProcess;
let b: ProxyProcess;
let c: ProxyProcess;

beforeAll(async () => {
  [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
  const prefix = `pmc${Math.random().toString(36).slice(2, 8)}`;
  const cluster = (id: string): Record<string, unknown> => ({ nats: { servers: [nats.url] }, subject_prefix: prefix, auth: BUS_AUTH, member_id: id });
  const env = { ...ADMIN_ENV, ...BUS_ENV };
  [a, b, c] = await Promise.all([
    startProxy(memberConfig(as, echo.url, cluster('replica')), { env }),
    startProxy(memberConfig(as, echo.url, cluster('replica')), { env }),
    startProxy(memberConfig(as, echo.url, cluster('other')), { env }),
  ]);
  await Promise.all([a, b, c].map((p) => waitReady(p)));
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  await Promise.all([as?.close(), echo?.close(), nats?.stop()]);
});

describe('two instances under one cluster.member_id', () => {
  it('each counts the other\'s heartbeats and logs an error naming cluster.member_id; a member with its own id counts none', async () => {
    const logged = (p: ProxyProcess): Record<string, unknown> | undefined => p.logs().find((l) => l.level === 50 && String(l.msg).includes('another process heartbeats under this member id'));
    // the count and the log line leave together, but the line travels an asynchronous pipe: wait for both
    await waitFor('both replicas to count and log a conflict', async () => (await metric(a, CONFLICTS)) >= 1 && (await metric(b, CONFLICTS)) >= 1
      && logged(a) !== undefined && logged(b) !== undefined, 10_000);
    for (const p of [a, b]) {
      const line = logged(p);
      expect(line, p.output().slice(-2000)).toBeDefined();
      expect(String(line!.msg)).toContain('cluster.member_id');
      expect(line!.other_pid).toBe((p === a ? b : a).proc.pid);
    }
    expect(await metric(c, CONFLICTS)).toBe(0);
    expect(c.logs().some((l) => String(l.msg).includes('another process heartbeats under this member id'))).toBe(false);
  }, 30_000);
});
