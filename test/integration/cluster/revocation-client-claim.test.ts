// `revoke --client ID` matches the token's client however its issuer names it: `client_id` (RFC 9068),
// else `azp` (OIDC, Auth0, Keycloak), else `cid` (Okta), else `appid` (Microsoft Entra ID v1). Before, a
// token carrying its client only in `cid` or `appid` was never matched: the revocation answered 201 and the
// client's tokens kept passing. A token whose claims name two different clients is refused: a revocation of
// either client must reach it, and the proxy cannot tell which one it belongs to.
import { describe, expect, it } from 'vitest';
import { ADMIN_ENV, runCli } from '../../helpers/proxy-process.js';
import { call, revoked, warmProxyStand } from './proxy-fixtures.js';

describe('a client revocation reaches client_id, azp, cid and appid', () => {
  const stand = warmProxyStand();

  const revokeClient = async (id: string): Promise<void> => {
    const out = await runCli(['revoke', '--admin', stand.proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--client', id], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
  };

  it.each([
    ['client_id', { client_id: 'app-rfc9068' }, 'app-rfc9068'],
    ['azp', { client_id: undefined, azp: 'app-oidc' }, 'app-oidc'],
    ['cid (Okta)', { client_id: undefined, cid: 'app-okta' }, 'app-okta'],
    ['appid (Entra ID v1)', { client_id: undefined, appid: 'app-entra-v1' }, 'app-entra-v1'],
    ['client_id and azp, the same client', { client_id: 'app-both', azp: 'app-both' }, 'app-both'],
  ])('client in %s: accepted, then refused as revoked after `revoke --client`', async (_where, claims, id) => {
    const tok = await stand.as.issueJwt({ sub: `user-of-${id}`, ...claims });
    expect((await call(stand.proxy, tok)).status).toBe(200);
    await revokeClient(id);
    const a = await call(stand.proxy, tok);
    expect(revoked(a), `${a.status} ${a.challenge}`).toBe(true);
  });

  it.each([
    ['client_id and azp', { client_id: 'app-named-first', azp: 'app-named-second' }],
    ['azp and cid', { client_id: undefined, azp: 'app-named-first', cid: 'app-named-second' }],
    ['client_id and appid', { client_id: 'app-named-first', appid: 'app-named-second' }],
  ])('claims %s naming two clients: refused (a revocation of the second client could never reach it)', async (_where, claims) => {
    const tok = await stand.as.issueJwt({ sub: 'user-of-two-clients', ...claims });
    await revokeClient('app-named-second');
    const a = await call(stand.proxy, tok);
    expect(a.status).toBe(401);
    expect(a.challenge).toContain('invalid_token');
  });

  it('appid that is not a string: refused, as a client_id that is not one', async () => {
    const tok = await stand.as.issueJwt({ sub: 'user-of-numeric-appid', client_id: undefined, appid: 12345 });
    const a = await call(stand.proxy, tok);
    expect(a.status).toBe(401);
  });
});
