// A member's policy leader probe gives up at its own 1 s timeout (README "Cut off and back") after the store's
// start reads: one shared JetStream manager gave it the reads' 5 s, so a cut-off member asked a silent leader
// 5 s a question and applied a newer version up to ~4 s late once its link returned.
import { describe, expect, it } from 'vitest';
import { PolicyStore } from '../../../cluster/policy/index.js';
import { natsWithClient } from '../../helpers/nats-client.js';

const stand = natsWithClient({ maxReconnectAttempts: 0 });

describe('the policy leader probe on a member store', () => {
  it('gives up at its 1 s timeout when nothing answers, after the start read the bucket through the leader', async () => {
    // a member's store: no CLI deadline; it reads the latest version at start, then probes
    const store = await PolicyStore.open(stand.nc, { bucket: `PPT${Math.random().toString(36).slice(2, 8).toUpperCase()}_POLICY` });
    await store.write(new TextEncoder().encode('v1'), null);
    expect((await store.latest())?.revision).toBe(1);
    expect((await store.history()).map((h) => h.revision)).toEqual([1]);
    expect((await store.latestFromLeader(1_000))?.revision).toBe(1);
    stand.nats.pause(); // holds its socket, answers nothing: a member whose server is cut off
    // two timers in this process, not a speed limit: the probe's 1 s expires before 4 s, a 5 s one after
    const probe = store.latestFromLeader(1_000).then(() => 'answered', (e: { code?: string; message?: string }) => `failed: ${e.code ?? e.message}`);
    const later = new Promise<string>((r) => { setTimeout(() => r('still asking after 4 s'), 4_000).unref(); });
    expect(await Promise.race([probe, later])).toBe('failed: TIMEOUT');
    stand.nats.resume();
    await probe;
  }, 30_000);
});
