// `revoke --client ID` matches the token's client however its issuer names it: `client_id` (RFC 9068),
// else `azp` (OIDC, Auth0, Keycloak), else `cid` (Okta). Before, an Okta-style token (client only in
// `cid`) was never matched: the revocation answered 201 and the client's tokens kept passing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, runCli, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, revoked, startWarmProxy } from './proxy-fixtures.js';

describe('a client revocation reaches client_id, azp and cid', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    proxy = await startWarmProxy(as, echo.url);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  const revokeClient = async (id: string): Promise<void> => {
    const out = await runCli(['revoke', '--admin', proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--client', id], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
  };

  it.each([
    ['client_id', { client_id: 'app-rfc9068' }, 'app-rfc9068'],
    ['azp', { client_id: undefined, azp: 'app-oidc' }, 'app-oidc'],
    ['cid (Okta)', { client_id: undefined, cid: 'app-okta' }, 'app-okta'],
  ])('client in %s: accepted, then refused as revoked after `revoke --client`', async (_where, claims, id) => {
    const tok = await as.issueJwt({ sub: `user-of-${id}`, ...claims });
    expect((await call(proxy, tok)).status).toBe(200);
    await revokeClient(id);
    const a = await call(proxy, tok);
    expect(revoked(a), `${a.status} ${a.challenge}`).toBe(true);
  });
});
