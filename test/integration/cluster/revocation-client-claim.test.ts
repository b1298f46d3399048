// `revoke --client ID` matches the token's client however its issuer names it: `client_id` (RFC 9068),
// else `azp` (OIDC, Auth0, Keycloak), else `cid` (Okta). Before, an Okta-style token (client only in
// `cid`) was never matched: the revocation answered 201 and the client's tokens kept passing.
import { describe, expect, it } from 'vitest';
import { ADMIN_ENV, runCli } from '../../helpers/proxy-process.js';
import { call, revoked, warmProxyStand } from './proxy-fixtures.js';

describe('a client revocation reaches client_id, azp and cid', () => {
  const stand = warmProxyStand();

  const revokeClient = async (id: string): Promise<void> => {
    const out = await runCli(['revoke', '--admin', stand.proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--client', id], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
  };

  it.each([
    ['client_id', { client_id: 'app-rfc9068' }, 'app-rfc9068'],
    ['azp', { client_id: undefined, azp: 'app-oidc' }, 'app-oidc'],
    ['cid (Okta)', { client_id: undefined, cid: 'app-okta' }, 'app-okta'],
  ])('client in %s: accepted, then refused as revoked after `revoke --client`', async (_where, claims, id) => {
    const tok = await stand.as.issueJwt({ sub: `user-of-${id}`, ...claims });
    expect((await call(stand.proxy, tok)).status).toBe(200);
    await revokeClient(id);
    const a = await call(stand.proxy, tok);
    expect(revoked(a), `${a.status} ${a.challenge}`).toBe(true);
  });
});
