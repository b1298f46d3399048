// The `sub`/`client_id` cut (issue 8 item 4): a revocation refuses every token of that
// subject or client issued up to and including the second it names — "now" included, so
// a token issued in the same second as the revocation is refused, whether the cut came
// from the admin API's default, `portcullis revoke --before now`, or an explicit time.
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, runCli } from '../../helpers/proxy-process.js';
import { admin, revoked, warmProxyStand } from './proxy-fixtures.js';
import { sleep } from './cluster-fixtures.js';

interface Answer { status: number; challenge: string }

describe('sub/client_id revocations cover the second they name', () => {
  const stand = warmProxyStand();

  async function call(token: string): Promise<Answer> {
    const r = await request(`${stand.proxy.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
    await r.body.dump();
    return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
  }

  /** The stored cut (`before`, epoch s) of the live entry of this kind and value. */
  async function cutOf(kind: 'sub' | 'client_id', value: string): Promise<number> {
    const list = await admin(stand.proxy, 'GET', `/revocations?kind=${kind}`);
    const e = (list.body.entries as Array<{ value: string; before: number }>).find((x) => x.value === value);
    expect(e, `${kind} ${value} listed`).toBeDefined();
    return e!.before;
  }

  it('issue a token, revoke its subject at once (admin API, no before): the token is refused', async () => {
    // Early in a second, so token and revocation share it (the case "iat < before" missed).
    while (Date.now() % 1000 > 300) await sleep(10);
    const tok = await stand.as.issueJwt({ sub: 'same-second' });
    expect((await call(tok)).status).toBe(200);
    const posted = await admin(stand.proxy, 'POST', '/revocations', { kind: 'sub', value: 'same-second' });
    expect(posted.status).toBe(201);
    const iat = JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).iat as number;
    expect(posted.body.revocation.before).toBeGreaterThanOrEqual(iat);
    expect(revoked(await call(tok))).toBe(true);
  });

  it('admin API default cut: a token issued in the revocation\'s second is refused, one issued the next second passes', async () => {
    const posted = await admin(stand.proxy, 'POST', '/revocations', { kind: 'sub', value: 'cut-admin' });
    expect(posted.status).toBe(201);
    const before = posted.body.revocation.before as number;
    const sameSecond = await stand.as.issueJwt({ sub: 'cut-admin', iat: before });
    const nextSecond = await stand.as.issueJwt({ sub: 'cut-admin', iat: before + 1 });
    expect(revoked(await call(sameSecond))).toBe(true);
    expect((await call(nextSecond)).status).toBe(200);
  });

  it('`portcullis revoke --client ID --before now`: a token of that client issued in that second is refused', async () => {
    const out = await runCli(['revoke', '--admin', stand.proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--client', 'svc-cut', '--before', 'now'], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
    const before = await cutOf('client_id', 'svc-cut');
    const sameSecond = await stand.as.issueJwt({ sub: 'u', client_id: 'svc-cut', iat: before });
    const nextSecond = await stand.as.issueJwt({ sub: 'u', client_id: 'svc-cut', iat: before + 1 });
    expect(revoked(await call(sameSecond))).toBe(true);
    expect((await call(nextSecond)).status).toBe(200);
  });

  it('an explicit before (ISO 8601): tokens issued in that second and earlier are refused, later ones pass', async () => {
    const t = Math.floor(Date.now() / 1000) - 120;
    const iso = new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const posted = await admin(stand.proxy, 'POST', '/revocations', { kind: 'sub', value: 'cut-iso', before: iso });
    expect(posted.status).toBe(201);
    expect(posted.body.revocation.before).toBe(t);
    for (const [iat, refused] of [[t - 1, true], [t, true], [t + 1, false]] as const) {
      const a = await call(await stand.as.issueJwt({ sub: 'cut-iso', iat }));
      expect(revoked(a), `iat = before ${iat - t >= 0 ? '+' : ''}${iat - t}: ${a.status}`).toBe(refused);
      if (!refused) expect(a.status).toBe(200);
    }
  });
});
