// `serve --workers 2` on NATS: POST /revocations is answered by the primary, which serves no requests.
// With the bus away the revocation (201, persisted: false) must still be enforced by the instance's
// workers, which go on serving on local state (degraded).
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { bothWorkersServe, busStand } from './bus-stand.js';
import { admin, call, jtiOf, revoked } from './proxy-fixtures.js';

const stand = busStand({ prefix: `pwo${Math.random().toString(36).slice(2, 8)}` });
let proxy: ProxyProcess;

beforeAll(async () => {
  proxy = await stand.member({}, { args: ['--workers', '2'], timeoutMs: 40_000 });
}, 60_000); // `serve --workers 2` reports listening after ~21 s with three starting at load 12

describe('serve --workers 2, a revocation accepted while NATS is away', () => {
  it('is enforced by every worker at once', async () => {
    const token = await stand.as.issueJwt({ sub: 'offline' });
    await bothWorkersServe(proxy, token);
    await stand.nats.kill();
    const r = await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) });
    expect(r.status).toBe(201);
    expect(r.body.persisted).toBe(false);
    // each call on a fresh connection: SO_REUSEPORT spreads them over both workers (before: 200 at every one, for the whole outage)
    const allRevoked = async (): Promise<boolean> => { for (let i = 0; i < 8; i++) if (!revoked(await call(proxy, token))) return false; return true; };
    await waitFor('the token refused at both workers', allRevoked, 5_000);
  }, 60_000);
});
