// A revocation value that can match no token is refused (400, nothing stored) instead of answered
// 201: a token whose sub, client_id, jti or sid has a space or tab at an end is itself refused (a tab
// was already refused as a control character), so
// `revoke --sub "alice "` (a stray space from a copy) revoked nothing while alice's tokens kept passing.
import { describe, expect, it } from 'vitest';
import { ADMIN_ENV, runCli } from '../../helpers/proxy-process.js';
import { admin, call, warmProxyStand } from './proxy-fixtures.js';

describe('revocation values with a space or tab at an end are refused', () => {
  const stand = warmProxyStand();

  const stored = async (): Promise<number> => ((await admin(stand.proxy, 'GET', '/revocations')).body.entries as unknown[]).length;

  it.each([
    ['sub', 'alice ', 'value'],
    ['client_id', ' billing', 'value'],
    ['jti', 'j-1 ', 'value'],
    ['sid', ' s-1', 'value'],
  ])('POST /revocations kind %s value %j → 400 naming the field, nothing stored', async (kind, value, field) => {
    const before = await stored();
    const r = await admin(stand.proxy, 'POST', '/revocations', { kind, value });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(new RegExp(`${field}: .*space or tab`));
    expect(await stored()).toBe(before);
  });

  it('an issuer with a space at an end → 400 (a token\'s iss is compared exactly)', async () => {
    const r = await admin(stand.proxy, 'POST', '/revocations', { kind: 'sub', value: 'bob', issuer: `${stand.as.issuer} ` });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/issuer: .*space or tab/);
  });

  it.each([
    ['sub', 'alice\ud800'],
    ['client_id', '\udc00billing'],
    ['jti', 'j-\udbff1'],
    ['sid', 's\udfff'],
  ])('POST /revocations kind %s with a lone surrogate → 400, nothing stored (peers would read U+FFFD: another user)', async (kind, value) => {
    const before = await stored();
    const r = await admin(stand.proxy, 'POST', '/revocations', { kind, value });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/value: a lone UTF-16 surrogate/);
    const iss = await admin(stand.proxy, 'POST', '/revocations', { kind: 'sub', value: 'bob', issuer: `${stand.as.issuer}\ud800` });
    expect(iss.status, JSON.stringify(iss.body)).toBe(400);
    expect(JSON.stringify(iss.body)).toMatch(/issuer: a lone UTF-16 surrogate/);
    expect(await stored()).toBe(before);
  });

  it('`revoke --sub "carol "` fails with the reason, and carol\'s token is then revoked by the corrected value', async () => {
    const tok = await stand.as.issueJwt({ sub: 'carol' });
    expect((await call(stand.proxy, tok)).status).toBe(200);
    const bad = await runCli(['revoke', '--admin', stand.proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--sub', 'carol '], ADMIN_ENV);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/space or tab/);
    const good = await runCli(['revoke', '--admin', stand.proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--sub', 'carol'], ADMIN_ENV);
    expect(good.code, good.stderr).toBe(0);
    expect((await call(stand.proxy, tok)).status).toBe(401);
  });
});
