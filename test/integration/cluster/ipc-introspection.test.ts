// The shared introspection cache under node:cluster without NATS: three workers behind
// the IPC hub (which relays the worker→worker lease requests and the broadcasts), one
// counting authorization server in this process. One call per token across workers;
// then every worker answers from memory; a crashed owner (SIGKILL, no goodbye) fails no
// lookup waiting on it and costs at most one extra call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { forkIpcFixture, type IpcFixture } from '../../helpers/ipc-fixture.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { waitFor } from '../../helpers/wait.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

describe('shared introspection cache over the node:cluster IPC hub', () => {
  let as: AuthServer;
  let fixture: IpcFixture;
  const send = <T>(m: Record<string, unknown>): Promise<T> => fixture.send<T>(m);

  beforeAll(async () => {
    as = await startAuthServer();
    fixture = await forkIpcFixture(here('./fixtures/ipc-introspection.ts'), {
      execArgv: ['--import', here('./fixtures/ts-register.mjs')],
      env: { ...process.env, AS_ENDPOINT: as.introspectionEndpoint, AS_ISSUER: as.issuer, AS_SECRET: 'portcullis-secret' },
    });
    let members: string[][] = [];
    await waitFor('every worker to see all three', async () => (members = await send<string[][]>({ cmd: 'members' })).every((m) => m.length === 3), 15_000, { detail: () => JSON.stringify(members) });
  }, 90_000); // four processes loading the TypeScript sources at run time: over 60 s once at load ~16 here, ~10 s in CI
  afterAll(async () => {
    await fixture?.stop();
    await as?.close();
  });

  it('20 tokens looked up concurrently 3× on each of 3 workers: the server sees 20 calls; then every worker answers from memory', async () => {
    const tokens = Array.from({ length: 20 }, (_, i) => as.issueOpaque({ sub: `ipc-${i}` }, 600));
    as.setIntrospection('slow', 30);
    as.resetCounters();
    const ok = await send<number[]>({ cmd: 'lookup', workers: [0, 1, 2], tokens, reps: 3 });
    as.setIntrospection('normal');
    expect(ok).toEqual([60, 60, 60]);
    expect(as.counters.introspection).toBe(20);
    let sync: number[] = [];
    await waitFor('every worker to hold all 20', async () => (sync = await send<number[]>({ cmd: 'sync', tokens })).every((n) => n === 20), 10_000, { detail: () => JSON.stringify(sync) });
    expect(sync).toEqual([20, 20, 20]);
    expect(as.counters.introspection).toBe(20);
  });

  it('the owner worker crashes while its call is slow: lookups waiting on it elsewhere succeed, at most one extra call', async () => {
    const ids = await send<string[]>({ cmd: 'ids' });
    const token = as.issueOpaque({ sub: 'ipc-crash' }, 600);
    const ownerId = await send<string>({ cmd: 'owner', worker: 0, token });
    const o = ids.indexOf(ownerId);
    expect(o).toBeGreaterThanOrEqual(0);
    const others = [0, 1, 2].filter((i) => i !== o);
    const pendingBefore = (await send<Record<string, number>>({ cmd: 'stats', worker: o })).cluster_introspection_lease_pending_total!;
    const failovers = async (): Promise<number> => (await Promise.all(others.map((w) => send<Record<string, number>>({ cmd: 'stats', worker: w })))).reduce((s, st) => s + st.cluster_introspection_owner_failovers_total!, 0);
    const failoversBefore = await failovers();
    // the owner's call must still be on the wire when both others have asked it for the lease: 500 ms was
    // too short a window on a loaded host (the call ended first, the others got the cached answer: never
    // 2 pending); under timeout_ms (3 s), past which the owner would release the lease as failed
    as.setIntrospection('slow', 2_500);
    as.resetCounters();
    void send({ cmd: 'lookup', workers: [o], tokens: [token], reps: 1 }); // never answered: the worker dies
    await waitFor('the owner to call', () => as.counters.introspection === 1, 10_000);
    const elsewhere = send<number[]>({ cmd: 'lookup', workers: others, tokens: [token], reps: 2 });
    let pendingNow = pendingBefore;
    await waitFor('both others to wait on the owner', async () => (pendingNow = (await send<Record<string, number>>({ cmd: 'stats', worker: o })).cluster_introspection_lease_pending_total!) >= pendingBefore + 2, 10_000);
    expect(pendingNow).toBe(pendingBefore + 2);
    as.setIntrospection('slow', 500); // the calls made once the owner is gone: slow enough that both others hand over
    await send({ cmd: 'kill', worker: o });
    expect(await elsewhere).toEqual([2, 2]);
    // handed over when the owner left (heartbeat expiry + departure grace), not by sitting out the 10 s lease
    expect(await failovers() - failoversBefore).toBe(2);
    expect(as.counters.introspection).toBe(2);
    as.setIntrospection('normal');
  });
});
