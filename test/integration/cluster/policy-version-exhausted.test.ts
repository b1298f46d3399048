// A bus key holder with NATS rights to the policy bucket writes an authentic entry numbered 2^53 − 1
// straight into it. The next `policy push` cannot number past it: 2^53 is no safe integer, and every
// member refuses such an entry as corrupt. Before, the push printed "pushed version 9007199254740992"
// and exited 0 while no member took it; now it exits 1 saying what happened and how to recover.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { newEntry, policyBucket, sealEntry } from '../../../cluster/policy/index.js';
import { BusAuth } from '../../../cluster/protocol/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_KEY, writeConfig } from '../../helpers/proxy-process.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { localConfig, policyCli, policyDoc, writePolicy, QUICK_BEAT } from './policy-fixtures.js';

describe('policy push after an entry numbered 2^53 − 1', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let cliConfig: string;
  const prefix = subjectPrefix('pve');

  beforeAll(async () => {
    nats = await startNatsServer();
    cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
  }, 30_000);
  afterAll(async () => { await nats?.stop(); });

  it('exits 1 naming the exhausted number instead of publishing a version every member ignores', async () => {
    const doc = policyDoc('http://127.0.0.1:9/', 'http://127.0.0.1:9');
    const first = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(doc)]);
    expect(first.code, first.stderr).toBe(0);
    const nc = await connect({ servers: [nats.url] });
    try {
      const bucket = policyBucket(prefix);
      const kv = await nc.jetstream().views.kv(bucket);
      await kv.put('current', sealEntry(newEntry(doc as never, Number.MAX_SAFE_INTEGER, 1, 'intruder'), bucket, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') })));
    } finally {
      await nc.close();
    }
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(doc)]);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toContain(`no version number is left after ${Number.MAX_SAFE_INTEGER}`);
  }, 60_000);
});
