// `serve --workers 2` on NATS with a snapshot file: a worker being replaced when the primary accepts a revocation
// during a bus outage misses the IPC hand-over and loads a snapshot written before it (one write a minute here);
// it must still refuse the token (the primary hands a booting worker the revocations it made).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { bothWorkersServe, busStand } from './bus-stand.js';
import { admin, call, jtiOf, revoked } from './proxy-fixtures.js';

const stand = busStand({ prefix: `pwb${Math.random().toString(36).slice(2, 8)}` });
let proxy: ProxyProcess;

beforeAll(async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-wboot-')), 'revocations.json');
  // one snapshot write a minute: the file written at start stays the one a replacement loads
  proxy = await stand.member({ start_timeout_ms: 500, revocation: { snapshot_file: file, snapshot_interval_ms: 60_000 } }, { args: ['--workers', '2'], timeoutMs: 40_000 });
}, 60_000); // `serve --workers 2` reports listening after ~21 s with three starting at load 12

describe('serve --workers 2, a revocation accepted during an outage while a worker is replaced', () => {
  it('is enforced by the replacement too', async () => {
    const token = await stand.as.issueJwt({ sub: 'offline-boot' });
    await bothWorkersServe(proxy, token);
    await stand.nats.kill();
    const before = workerPids(proxy.proc.pid!);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    // accepted while the slot is empty or its replacement boots
    const r = await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(false);
    const fresh = async (): Promise<boolean> => workerPids(proxy.proc.pid!).some((p) => !before.includes(p));
    await waitFor('a replacement worker', fresh, 15_000);
    const twoReady = async (): Promise<boolean> => (await admin(proxy, 'GET', '/readyz')).body.workers_ready === 2;
    await waitFor('the replacement to be ready (serving from the snapshot)', twoReady, 20_000);
    // each call on a fresh connection: both workers answer (before: the replacement let the token through, 200)
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) statuses.push((await call(proxy, token)).status);
    expect(statuses.filter((s) => s === 200), statuses.join(' ')).toHaveLength(0);
    expect(revoked(await call(proxy, token))).toBe(true);
  }, 60_000);
});
