// A member's first start with cluster policy and a `state_file` that does not exist yet (every scale-up):
// when the start timeout passes before the bus's version arrives, "no state file yet" is an info line, not
// an error an operator's alerting fires on; a state file that exists but is corrupt is still an error.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';
import { ENV, localConfig, policyCli, policyDoc, readyz, writePolicy, QUICK_BEAT } from './policy-fixtures.js';

describe('cluster policy: the state file at a member\'s first start', () => {
  let servers: BusServers;
  let prefix = '';

  beforeAll(async () => {
    servers = await startBusServers();
    prefix = subjectPrefix('pfs');
    const cliConfig = writeConfig(localConfig([servers.nats.url], prefix, {}, {}, QUICK_BEAT));
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(servers.as.issuer, servers.echo.url))]);
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => { await servers?.stop(); });

  /** A member whose start timeout (0) passes before the bus answers: it reads `stateFile` first, then takes the bus's version. */
  async function member(stateFile: string): Promise<Array<Record<string, unknown>>> {
    const p = await startProxy(localConfig([servers.nats.url], prefix, { state_file: stateFile }, {}, { ...QUICK_BEAT, start_timeout_ms: 0 }), { env: ENV, timeoutMs: 40_000 });
    servers.started.push(p);
    await waitFor('ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
    await waitFor('the state file read at start', () => p.logs().some((l) => typeof l.msg === 'string' && l.msg.includes('state file')), 10_000);
    await p.stop();
    await p.closed; // every line it wrote is in (its last ones can come after the exit): the absence checks read them all
    return p.logs();
  }

  it('no state file yet: an info line naming the file, and no policy error line', async () => {
    const stateFile = join(tempDir('portcullis-first-start-'), 'policy.state');
    const logs = await member(stateFile);
    const line = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('policy: no state file yet'));
    expect(line, JSON.stringify(logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('state file')))).toMatchObject({ level: 30, file: stateFile });
    // before: {"level":50,"problem":"cannot read … (ENOENT)","msg":"policy: no usable state file; …"} on every scale-up
    // (the revocation side's own start-timeout line is not the policy's: start_timeout_ms 0 makes it too)
    expect(logs.filter((l) => Number(l.level) >= 50 && l.component === 'policy')).toEqual([]);
  }, 60_000);

  it('a state file that exists but is corrupt: still an error line', async () => {
    const stateFile = join(tempDir('portcullis-first-start-'), 'policy.state');
    writeFileSync(stateFile, 'not json', { mode: 0o600 });
    const logs = await member(stateFile);
    expect(logs.find((l) => l.msg === 'policy: no usable state file; not ready until a version arrives from the bus')).toMatchObject({ level: 50, file: stateFile });
  }, 60_000);
});
