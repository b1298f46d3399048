// `npm run hosts`: the multi-host scenarios at full size on one harness setup, figures printed
// as markdown and written to bench/results/hosts-<time>.json with machine, Node and commit.
//   node dist/bench/hosts/run.js [--quick] [--verbose]     (root: creates network namespaces)
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { machineInfo, machineLine } from '../machine.js';
import { writeResults } from '../results.js';
import { HostsCluster } from './hosts-cluster.js';
import { introspectionOnce, leaderLoss, linkCut, propagation, rollingRestart } from './scenarios.js';

const FULL = { revocations: 200, introspectionTokens: 100, cutTokens: 50, cutMs: 15_000, rps: 200, leaderRevocations: 40 };
const QUICK = { revocations: 20, introspectionTokens: 20, cutTokens: 10, cutMs: 10_000, rps: 40, leaderRevocations: 10 };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, verbose: { type: 'boolean' } }, strict: true });
  const size = values.quick ? QUICK : FULL;
  const machine = machineInfo();
  process.stdout.write(`multi-host harness — ${machineLine(machine)}\nsizes: ${JSON.stringify(size)}\n`);
  const t0 = Date.now();
  const c = await HostsCluster.start({ workers: 2, drainMs: 5_000, failClosedAfterMs: 3_000, verbose: values.verbose === true });
  const setupMs = Date.now() - t0;
  // the 1-minute load average before and after: how busy the rest of the machine was
  const out: Record<string, unknown> = { machine, size, setupMs, loadavgBefore: loadavg()[0] };
  try {
    out.propagation = await propagation(c, size.revocations);
    out.introspection = await introspectionOnce(c, size.introspectionTokens);
    out.linkCut = await linkCut(c, size.cutTokens, size.cutMs);
    out.rollingRestart = await rollingRestart(c, size.rps);
    out.leaderLoss = await leaderLoss(c, size.leaderRevocations, size.rps);
  } catch (err) {
    out.error = (err as Error).message;
    out.log = c.log.slice(-60).join('');
  } finally {
    out.loadavgAfter = loadavg()[0];
    await c.close();
  }
  const file = writeResults('hosts', out);
  process.stdout.write(JSON.stringify(out, null, 1) + `\nwritten: ${file}\n`);
  if (out.error !== undefined) process.exitCode = 1;
}

main().catch((err: unknown) => { process.stderr.write(`hosts: ${(err as Error).message}\n`); process.exit(1); });
