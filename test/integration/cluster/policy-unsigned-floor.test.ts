// A member without a bus key (cluster.auth.mode: none) numbers a POST /policy push past its own version only: an
// unsigned heartbeat proves nothing and sets no floor (as at start and in `policy push`). Before, one forged beat
// claiming version 2^53 − 2 made the push version 2^53 − 1, after which no push had a number left.
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { Codec } from '../../../cluster/protocol/index.js';
import { startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, QUICK_BEAT, localConfig, policyDoc, pushPolicies, statusOf } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

describe('cluster policy without a bus key: POST /policy and a forged heartbeat', () => {
  const stand = busStand();

  it('numbers the push past the bucket and the member itself, not past an unsigned peer\'s claim', async () => {
    const prefix = `puf${Math.random().toString(36).slice(2, 8)}`;
    const noKey = { ...QUICK_BEAT, auth: { mode: 'none' } };
    const v1 = policyDoc(stand.as.issuer, stand.echo.url);
    await pushPolicies(writeConfig(localConfig([stand.nats.url], prefix, {}, {}, noKey)), [v1]);
    const a = stand.track(await startProxy(localConfig([stand.nats.url], prefix, {}, {}, noKey), { env: ENV, timeoutMs: 30_000 }));
    await waitFor('the member on version 1', async () => (await admin(a, 'GET', '/policy')).body.version === 1, 20_000);

    const nc = await connect({ servers: [stand.nats.url] });
    const forged = new Codec().encode({ type: 'member.heartbeat', v: 2, id: 'forged-member', role: 'single', host: 'evil', pid: 1, startedAt: 1, seq: 1, intervalMs: 200,
      policy: { version: Number.MAX_SAFE_INTEGER - 1, digest: null, error: null, latestSeen: Number.MAX_SAFE_INTEGER - 1, from: 'bus' } });
    const timer = setInterval(() => nc.publish(`${prefix}.members`, forged), 100);
    try {
      // the member has heard the beat (it lists the forged peer) before the push
      await waitFor('the forged peer in the member\'s view', async () => JSON.stringify((await admin(a, 'GET', '/policy')).body.members).includes('forged-member'), 10_000);
      const v2 = policyDoc(stand.as.issuer, stand.echo.url, { routes: [...v1.routes as unknown[], { name: 'open2', match: { path: '/open2/*' }, upstream: 'app', auth: 'none' }] });
      const r = await admin(a, 'POST', '/policy', v2);
      expect({ status: r.status, version: r.body.version }, JSON.stringify(r.body)).toEqual({ status: 200, version: 2 });
    } finally {
      clearInterval(timer);
      await nc.close();
    }
    await waitFor('the member serving version 2', async () => (await statusOf(a, '/open2/x')) === 200, 20_000);
    await a.stop();
  }, 90_000);
});
