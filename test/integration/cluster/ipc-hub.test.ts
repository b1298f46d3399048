// node:cluster without NATS: a real primary (the IPC hub) and forked workers share
// revocations through the hub, with the same protocol bytes as over NATS; a worker
// forked later syncs every revocation from the hub before it is ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { forkIpcFixture, type IpcFixture } from '../../helpers/ipc-fixture.js';
import { waitFor } from '../../helpers/wait.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

describe('IPC hub (node:cluster primary) without NATS', () => {
  let fixture: IpcFixture;
  const send = <T>(m: Record<string, unknown>): Promise<T> => fixture.send<T>(m);

  beforeAll(async () => {
    fixture = await forkIpcFixture(here('./fixtures/ipc-cluster.ts'), { execArgv: ['--import', here('./fixtures/ts-register.mjs')] });
  }, 60_000); // a failure bound: the fixture transpiles the cluster code through ts-hooks at start (24 s alone on a loaded 2-core host)
  afterAll(async () => { await fixture?.stop(); });

  const check = (jti: string): Promise<{ hub: boolean; workers: boolean[] }> => send({ cmd: 'check', jti });

  it('a revocation at worker 0 reaches the hub and worker 1', async () => {
    expect(await check('ipc-1')).toEqual({ hub: false, workers: [false, false] });
    const out = await send<{ ok: boolean; persisted: boolean | null }>({ cmd: 'revoke', worker: 0, req: { kind: 'jti', value: 'ipc-1' } });
    expect(out).toMatchObject({ ok: true, persisted: null });
    const t0 = Date.now();
    let seen = await check('ipc-1');
    while (!(seen.hub && seen.workers.every(Boolean)) && Date.now() - t0 < 10_000) seen = await check('ipc-1');
    expect(seen).toEqual({ hub: true, workers: [true, true] });
    const stats = await send<Record<string, number>>({ cmd: 'stats', worker: 1 });
    expect(stats.revocations_applied_jti).toBe(1);
    expect(stats.revocation_propagation_ms_count).toBe(1); // measured by the worker (how fast: bench revocation-propagation)
  });

  it('bad input is refused with the field named', async () => {
    const out = await send<{ ok: boolean; errors: string[] }>({ cmd: 'revoke', worker: 1, req: { kind: 'sub', value: 'x', before: 'soon' } });
    expect(out.ok).toBe(false);
    expect(out.errors.join(' ')).toContain('before:');
  });

  it('workers see each other as members; the primary is not a serving member', async () => {
    const t0 = Date.now();
    let members = await send<string[]>({ cmd: 'members', worker: 0 });
    while (members.length < 2 && Date.now() - t0 < 10_000) members = await send<string[]>({ cmd: 'members', worker: 0 });
    expect(members).toHaveLength(2);
    expect([...members].sort()).toEqual(members);
  });

  it('a worker forked later syncs every revocation from the hub before it is ready', async () => {
    await send({ cmd: 'revoke', worker: 1, req: { kind: 'jti', value: 'ipc-2' } });
    // the hub hears it from worker 1 over IPC, after the worker answered: the later worker syncs from the hub
    await waitFor("(await check('ipc-2')).hub", async () => (await check('ipc-2')).hub, 10_000, { detail: () => 'the hub holds the revocation' });
    const index = await send<number>({ cmd: 'fork' });
    expect(index).toBe(2);
    const stats = await send<Record<string, number | boolean>>({ cmd: 'stats', worker: 2 });
    expect(stats.caughtUp).toBe(false); // not caught up before its sync...
    expect(stats.entries).toBe(2); // ...and holding both once ready
    expect(stats.degraded).toBe(false);
    expect((await check('ipc-2')).workers).toEqual([true, true, true]);
  });
});
