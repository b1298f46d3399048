// `policy status` prints what members' heartbeats say (member id, host, last error) and `policy history`
// each version's pushed-by name: text that comes off the bus. One heartbeat sealed with the key (or any
// publisher with `cluster.auth.mode: none`) carrying an escape sequence reached the operator's terminal
// raw — it could clear the screen or retitle the window. Control characters are printed as `\u001b` now.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_KEY, writeConfig } from '../../helpers/proxy-process.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { localConfig, policyCli, policyDoc, writePolicy, QUICK_BEAT } from './policy-fixtures.js';

const ESC = '\u001b';

describe('policy CLI: text from the bus is printed, never interpreted', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let cliConfig: string;
  const prefix = subjectPrefix('pcp');

  beforeAll(async () => {
    nats = await startNatsServer();
    cliConfig = writeConfig(localConfig([nats.url], prefix, {}, {}, QUICK_BEAT));
  }, 30_000);
  afterAll(async () => { await nats?.stop(); });

  it('status shows a forged heartbeat\'s host and error with the escape escaped; history likewise a pushed-by name', async () => {
    const pushed = await policyCli(['push', '--config', cliConfig, '--by', `ops${ESC}]0;pwned${ESC}\\`, '--policy', writePolicy(policyDoc('http://127.0.0.1:9/', 'http://127.0.0.1:9'))]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const nc = await connect({ servers: [nats.url] });
    const auth = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
    const codec = new Codec();
    const subject = `${prefix}.members`;
    let seq = 0;
    const startedAt = Date.now() - 1_000;
    const beat = (): void => {
      nc.publish(subject, auth.seal(subject, codec.encode({
        type: 'member.heartbeat', v: 2, id: 'pcp-member', role: 'single', host: `evil${ESC}[2J`, pid: 1, startedAt, seq: ++seq, intervalMs: 200,
        policy: { version: 1, digest: null, error: `bad${ESC}[31m red`, latestSeen: 1, from: 'bus' },
      })));
    };
    const timer = setInterval(beat, 100);
    try {
      const status = await policyCli(['status', '--config', cliConfig, '--wait', '1500']);
      expect(status.stdout).toContain('pcp-member');
      expect(status.stdout).not.toContain(ESC);
      expect(status.stdout).toContain('evil\\u001b[2J');
      expect(status.stdout).toContain('bad\\u001b[31m red');
      const history = await policyCli(['history', '--config', cliConfig]);
      expect(history.code, history.stderr).toBe(0);
      expect(history.stdout).not.toContain(ESC);
      expect(history.stdout).toContain('ops\\u001b]0;pwned');
    } finally {
      clearInterval(timer);
      await nc.close();
    }
  }, 60_000);
});
