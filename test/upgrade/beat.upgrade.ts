// A previous-release member beside a member on `cluster.heartbeat_ms: 100` (and one on 10000): over 6 s
// neither drops the other from its view (no expiry, both counted), and both serve.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../helpers/nats.js';
import { call, config, metricsText, pick, sleep, startMember, until, type Member } from './mixed.js';

describe('heartbeat periods across builds', () => {
  let as: AuthServer; let echo: EchoUpstream; let nats: NatsServer & { stop(): Promise<void> };
  const all: Member[] = [];
  beforeAll(async () => { [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]); }, 60_000);
  afterAll(async () => { for (const m of all) await m.stop(); await nats?.stop(); await as?.close(); await echo?.close(); });

  it('an old member keeps a 100 ms and a 10 s member in its view', async () => {
    const prefix = `beat${Math.random().toString(36).slice(2, 7)}`;
    const base = config(as.issuer, echo.url, nats.url, prefix);
    const withBeat = (ms: number) => ({ ...base, cluster: { ...(base.cluster as object), heartbeat_ms: ms } });
    all.push(await startMember('old', 'old', base), await startMember('fast', 'new', withBeat(100)), await startMember('slow', 'new', withBeat(10_000)));
    const value = async (m: Member, name: string) => Number(pick(await metricsText(m), new RegExp(`^${name}`))[0]?.split(' ').pop() ?? NaN);
    for (const m of all) await until(`${m.name} hears 3`, async () => (await value(m, 'portcullis_cluster_members ')) === 3, 20_000);
    const token = await as.issueJwt({ sub: 'x' });
    for (let i = 0; i < 12; i++) {
      for (const m of all) {
        expect(await value(m, 'portcullis_cluster_members '), `${m.name} at ${i * 500} ms`).toBe(3);
        expect(await value(m, 'portcullis_cluster_members_expired_total')).toBe(0);
        expect((await call(m, token)).status).toBe(200);
      }
      await sleep(500);
    }
  }, 90_000);
});
