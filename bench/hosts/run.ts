// `npm run hosts`: the multi-host scenarios at full size on one harness setup, figures printed
// as markdown and written to bench/results/hosts-<time>.json with machine, Node and commit.
//   node dist/bench/hosts/run.js [--quick] [--verbose]     (root: creates network namespaces)
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { machineInfo, machineLine } from '../machine.js';
import { markdownTable, writeResults } from '../results.js';
import { HostsCluster } from './hosts-cluster.js';
import { policyPushConverges, pushFirstVersion } from './scenario-policy.js';
import { deployedBus, introspectionOnce, leaderLoss, linkCut, propagation, rollingRestart } from './scenarios.js';

const FULL = { revocations: 200, introspectionTokens: 100, cutTokens: 50, cutMs: 25_000, rps: 200, leaderRevocations: 40 };
const QUICK = { revocations: 20, introspectionTokens: 20, cutTokens: 10, cutMs: 20_000, rps: 40, leaderRevocations: 10 };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, verbose: { type: 'boolean' } }, strict: true });
  const size = values.quick ? QUICK : FULL;
  const machine = machineInfo();
  process.stdout.write(`multi-host harness — ${machineLine(machine)}\nsizes: ${JSON.stringify(size)}\n`);
  const t0 = Date.now();
  const c = await HostsCluster.start({ workers: 2, drainMs: 5_000, failClosedAfterMs: 10_000, verbose: values.verbose === true });
  const setupMs = Date.now() - t0;
  // the 1-minute load average before and after: how busy the rest of the machine was
  const out: Record<string, unknown> = { machine, size, setupMs, loadavgBefore: loadavg()[0] };
  try {
    out.deployedBus = await deployedBus(c);
    out.propagation = await propagation(c, size.revocations);
    out.introspection = await introspectionOnce(c, size.introspectionTokens);
    out.linkCut = await linkCut(c, size.cutTokens, size.cutMs);
    out.leaderLoss = await leaderLoss(c, size.leaderRevocations, size.rps);
    // the rolling restart switches every proxy to cluster policy (version 1), one at a time under load
    await pushFirstVersion(c);
    out.rollingRestart = await rollingRestart(c, size.rps);
    // last: the proxies stay on cluster policy
    out.policyPush = await policyPushConverges(c, size.cutTokens, size.cutMs);
  } catch (err) {
    out.error = (err as Error).message;
    out.log = c.log.slice(-60).join('');
  } finally {
    out.loadavgAfter = loadavg()[0];
    await c.close();
  }
  const file = writeResults('hosts', out);
  process.stdout.write(JSON.stringify(out, null, 1) + `\nwritten: ${file}\n\n${markdown(out)}\n`);
  if (out.error !== undefined) process.exitCode = 1;
}

/** The figures as the markdown RESULTS.md carries. */
export function markdown(o: Record<string, any>): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const lines: string[] = [];
  const z = o.deployedBus;
  if (z !== undefined) {
    const nats = Object.entries(z.nats as Record<string, { anonymous: string; proxyUser: string }>).map(([h, n]) => `${h}: anonymous ${n.anonymous}, proxies ${n.proxyUser}`).join('; ');
    const keys = Object.entries(z.members as Record<string, { busAuth: string; keyId: string }>).map(([h, m]) => `${h} ${m.busAuth} ${m.keyId}`).join(', ');
    lines.push(`**deployed bus** — NATS (deploy/nats/permissions.conf) ${nats}; members ${keys}; \`portcullis revoke\` as portcullis-revoke: exit ${z.revokeCli.code}, refused at ${z.revokeCli.refusedAt.join(', ')} after ${z.revokeCli.refusedMs} ms.`, '');
  }
  const a = o.propagation;
  if (a !== undefined) {
    lines.push(`**a. propagation** — ${a.revocations} revocations at host a, first 401 at b and c seen from the client host, ms from the POST (missed: ${a.missed})`, '');
    lines.push(markdownTable(['host', 'n', 'p50 ms', 'p99 ms', 'max ms'], ['b', 'c'].map((h) => [h, String(a.perHost[h].n), String(a.perHost[h].p50), String(a.perHost[h].p99), String(a.perHost[h].max)]), [false, true, true, true, true]), '');
  }
  const b = o.linkCut;
  if (b !== undefined) lines.push(`**b. link cut** — ${b.tokens} tokens revoked at a while c was cut off for ${(b.cutMs / 1000).toFixed(1)} s: after the link came back c served **${b.servedRevoked}** of them; answers ${JSON.stringify(b.answers)}; first answer ${b.firstAnswerMs} ms after link up, every token 401 after **${b.caughtUpMs} ms**.`, '');
  const c = o.leaderLoss;
  if (c !== undefined) lines.push(`**c. stream leader's host killed** — leader ${c.leader} killed under ${o.size?.rps ?? '?'} rps; new leader ${c.newLeader} after ${c.newLeaderMs} ms; ${c.revocations} revocations (half after the kill, admin attempts ${JSON.stringify(c.attemptsAfterKill)}): refused at both survivors ${c.refusedAtSurvivors}/${c.revocations} (${c.refusedAfterMs} ms after the last), at the restarted host ${c.refusedAtRestarted}/${c.revocations} (ready ${c.restartReadyMs} ms after restart). Load: ${c.load.sent} sent, ${c.load.ok} ok; survivors: ${c.survivorCatchUp503Retried} × 503 catch-up retried elsewhere by the pool, ${c.survivorCatchUp503} × 503 left to the client, ${c.survivorOtherFailures} other failures, ${c.survivorUnexplained503.length} × 503 without their reason in the member's counters; latency p50/p99/max ${c.load.latency.p50}/${c.load.latency.p99}/${c.load.latency.max} ms.`, '');
  const d = o.introspection;
  if (d !== undefined) lines.push(`**d. introspection** — ${d.tokens} opaque tokens, each sent to the three hosts at once (${d.requests} requests, ${d.ok} × 200): **${d.asCalls}** authorization-server calls (${d.callsPerToken} per token).`, '');
  const e = o.rollingRestart;
  if (e !== undefined) {
    lines.push(`**e. rolling restart** — ${e.load.sent} requests at ${o.size?.rps ?? '?'} rps through the pool: ${e.load.ok} ok, **${e.load.failed} failed** ${JSON.stringify(e.load.failures)}, ${e.load.retried} retried elsewhere ${JSON.stringify(e.load.retries)}; latency p50/p99/max ${e.load.latency.p50}/${e.load.latency.p99}/${e.load.latency.max} ms`, '');
    lines.push(markdownTable(['host', 'exit code', 'SIGTERM → exit ms', 'start → ready ms'], e.restarts.map((r: { host: string; exitCode: number; drainMs: number; readyMs: number }) => [r.host, String(r.exitCode), String(r.drainMs), String(r.readyMs)]), [false, true, true, true]), '');
  }
  const f = o.policyPush;
  if (f !== undefined) lines.push(`**f. policy push** — every proxy switched to cluster policy (version 1, ${f.switchMs.length === 0 ? 'by the rolling restart' : `restart → ready ms ${JSON.stringify(f.switchMs)}`}); version 2 pushed while ${f.cutHost} was cut off for ${(f.cutMs / 1000).toFixed(1)} s (${f.pushAttempts} push attempt(s)): applied at the others after ${f.appliedElsewhereMs} ms; after the link came back ${f.cutHost} served **${f.servedOld}** requests by version 1; answers ${JSON.stringify(f.answers)}; every token refused by version 2 at ${f.cutHost} after **${f.convergedMs} ms**; \`policy status\` exit ${f.status.code}, versions ${JSON.stringify(f.status.versions)}.`, '');
  return lines.join('\n');
}

main().catch((err: unknown) => { process.stderr.write(`hosts: ${(err as Error).message}\n`); process.exit(1); });
