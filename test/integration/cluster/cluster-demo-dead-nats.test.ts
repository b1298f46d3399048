// `portcullis cluster-demo` whose nats-server dies once it listens: the demo stops with an error
// naming nats-server and how it ended, exit 1. Before, the three members waited for their first
// revocation replay for ever and the demo hung, printing nothing. The stand-in (NATS_SERVER_BIN)
// listens on the port it is given and exits 1 at its first connection (the demo's port probe).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const DIES = `#!${process.execPath}
const port = Number(process.argv[process.argv.indexOf('-p') + 1]);
require('node:net').createServer(() => process.exit(1)).listen(port, '127.0.0.1');
setTimeout(() => process.exit(2), 30_000).unref(); // never outlives the test
`;

describe('cluster-demo with a nats-server that dies', () => {
  it('stops with an error naming nats-server and its exit code instead of hanging', async () => {
    const bin = join(tempDir('portcullis-dead-nats-'), 'nats-server.cjs');
    writeFileSync(bin, DIES);
    chmodSync(bin, 0o755);
    const r = await runCli(['cluster-demo', '--exit'], { NATS_SERVER_BIN: bin }, 30_000);
    expect(r.stderr).toMatch(/the instances did not replay revocations from nats-server 127\.0\.0\.1:\d+: nats-server exited with code 1/);
    expect(r.stdout).not.toContain('Before:');
    expect(r.code).toBe(1);
  }, 35_000);
});
