// The cluster across hosts (issue 12): network namespaces as machines — three proxy hosts,
// each with one nats-server of a 3-node JetStream cluster (revocation stream R3) and one
// Portcullis with 2 workers bound to its address, a host for the authorization server and
// upstream, one for clients — joined by veth pairs on a bridge; NATS and the bus secured as
// deploy/ ships them (permissions file, bus key). ONE setup for every scenario,
// small sizes, correctness assertions only; `npm run hosts` runs the full sizes for figures.
// Needs root (CI is): without namespaces the setup fails with the reason, it never skips.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { HostsCluster } from '../../../bench/hosts/hosts-cluster.js';
import { policyPushConverges, pushFirstVersion } from '../../../bench/hosts/scenario-policy.js';
import { deployedBus, introspectionOnce, leaderLoss, linkCut, propagation, rollingRestart } from '../../../bench/hosts/scenarios.js';

let cluster: HostsCluster;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  const t0 = Date.now();
  cluster = await HostsCluster.start({ workers: 2, drainMs: 5_000, failClosedAfterMs: 10_000 });
  figures.setupMs = Date.now() - t0;
}, 240_000);

afterAll(async () => {
  const namespaces = cluster?.topo.remaining() ?? [];
  await cluster?.close();
  // everything this run created is gone: namespaces (with their links and addresses) and processes
  expect(cluster?.topo.remaining() ?? []).toEqual([]);
  expect(namespaces.length).toBeGreaterThan(0);
  console.log(JSON.stringify(figures, null, 1));
}, 60_000);

describe('multi-host cluster (network namespaces)', () => {
  it('addresses exist only inside the namespaces: none in the root namespace', () => {
    const root = spawnSync('ip', ['-o', 'addr'], { encoding: 'utf8' }).stdout;
    expect(root).not.toMatch(/10\.77\.0\./);
  });

  it('the deployed bus: NATS refuses clients without the permissions file\'s credentials, one bus key on every member, the revoke CLI (its own NATS user) revokes at every host', async () => {
    const r = await deployedBus(cluster);
    figures.deployedBus = r;
    for (const h of ['a', 'b', 'c']) {
      expect(r.nats[h]!.authRequired, h).toBe(true);
      expect(r.nats[h]!.anonymous, h).toMatch(/^-ERR 'Authorization Violation'/);
      expect(r.nats[h]!.wrongPassword, h).toMatch(/^-ERR 'Authorization Violation'/);
      expect(r.nats[h]!.proxyUser, h).toBe('PONG');
      expect(r.members[h]!.busAuth, h).toBe('hmac');
    }
    expect(typeof r.members.a!.keyId).toBe('string');
    expect(new Set(Object.values(r.members).map((m) => m.keyId)).size).toBe(1);
    expect(r.revokeCli.code, r.revokeCli.stderr).toBe(0);
    expect(r.revokeCli.refusedAt).toEqual(['a', 'b', 'c']);
  }, 120_000);

  it('a. a revocation made at host a is refused at b and c (20 revocations, timed from the client host)', async () => {
    const r = await propagation(cluster, 20);
    figures.propagation = r;
    expect(r.missed).toBe(0);
    expect(r.perHost.b!.n).toBe(20);
    expect(r.perHost.c!.n).toBe(20);
  }, 180_000);

  it('d. the same opaque tokens at all three hosts at once: one authorization-server call per token', async () => {
    const r = await introspectionOnce(cluster, 20);
    figures.introspection = r;
    expect(r.ok).toBe(r.requests);
    expect(r.asCalls).toBe(20);
  }, 120_000);

  it('b. c cut off while tokens are revoked at a: after the link returns c refuses them before serving any', async () => {
    // longer than fail_closed_after_ms (10 s) plus detection (a live check every 3 s, two failures of ≤ 2 s each)
    const r = await linkCut(cluster, 10, 20_000);
    figures.linkCut = r;
    expect(r.servedRevoked).toBe(0);
    expect(r.answers['200'] ?? 0).toBe(0);
    expect(r.caughtUpMs).not.toBeNull(); // every token refused with 401 in the end
  }, 180_000);

  it('c. the host leading the revocation stream dies under load: no revocation lost, survivors answer every request (200, or 503 + Retry-After only while their own counters show a reconnect, stall, lease wait or stream catch-up)', async () => {
    const r = await leaderLoss(cluster, 10, 40);
    figures.leaderLoss = r;
    expect(r.newLeader).not.toBe(r.leader);
    expect(r.refusedAtSurvivors).toBe(10);
    // Survivors answer every request: 200, or 503 + Retry-After (which the pool retries at the other survivor)
    // only for a reason the member's own counters show: each proxy uses its own host's nats-server, which lives,
    // so a survivor refuses only after a reconnect of its own, a stall of its loop, a worker's lease wait, or
    // fail_closed_after_ms without a confirmed stream (an election slower than 10 s on a loaded CI host; its
    // catch-up follows) — never merely because the stream elects a new leader (before: 503 after a stall during it).
    expect(r.survivorOtherFailures).toBe(0);
    expect(r.survivorUnexplained503, 'survivors\' 503s without their reason in the member\'s counters').toEqual([]);
    expect(r.load.ok).toBeGreaterThan(r.load.sent * 0.9);
    expect(r.refusedAtRestarted).toBe(10);
  }, 300_000);

  // every proxy restarts into cluster policy (version 1, the policy of its file): f needs no restart of its own
  it('e. rolling restart of every proxy under load through a pool of all three addresses, each into cluster policy: no failed request', async () => {
    await pushFirstVersion(cluster);
    const r = await rollingRestart(cluster, 40);
    figures.rollingRestart = r;
    expect(r.restarts.map((x) => x.exitCode)).toEqual([0, 0, 0]);
    expect(r.load.failures).toEqual({});
    expect(r.load.failed).toBe(0);
    expect(r.load.ok).toBe(r.load.sent);
    expect(r.load.ok).toBeGreaterThan(100);
  }, 300_000);

  // last: the proxies run cluster policy since e (deploy/nats/permissions.conf lets them use the bucket)
  it('f. a policy push converges on every host, including c, cut off while it was pushed', async () => {
    const r = await policyPushConverges(cluster, 10, 15_000);
    figures.policyPush = r;
    // one of three servers cut off: the push works at the first attempt (before 2026-12-06 it
    // failed with TIMEOUT, or hung until killed, in 5 of 7 runs)
    expect(r.pushFailures).toEqual([]);
    expect(r.pushAttempts).toBe(1);
    expect(r.convergedMs).not.toBeNull();
    expect(r.status.code).toBe(0);
    expect(r.status.versions).toEqual([2, 2, 2]);
    expect(r.answers['403']).toBeGreaterThan(0);
    // Cut off longer than fail_closed_after_ms (10 s), c holds auth routes (503) until the bucket's
    // leader answers again and version 2 is applied. Known gap (README: Cluster policy, "Cut off and
    // back"): 0 answers by version 1 in four runs of 2026-12-03 afternoon, 7 286 of ~72 000 in one
    // clean-clone CI run (the wait for version 2 then still ended at the catch-up timeout; it no
    // longer does) — recorded, not yet held at 0: most answers after the link returns are not 200s.
    expect(r.servedOld).toBeLessThan(r.answers['403']! + (r.answers['503'] ?? 0));
  }, 400_000);
});
