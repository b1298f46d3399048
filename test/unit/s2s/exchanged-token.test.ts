// judgeExchanged: what the proxy reads from a token an RFC 8693 exchange gave back — opaque
// tokens pass, a JWT must name the audience asked for and not be expired; details never quote it.
import { describe, expect, it } from 'vitest';
import { judgeExchanged } from '../../../node/s2s/exchanged-token.js';

const b64 = (o: unknown): string => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const jwt = (claims: unknown, header: unknown = { alg: 'RS256' }): string => `${b64(header)}.${b64(claims)}.sig`;
const NOW = 1_800_000_000;

describe('judgeExchanged', () => {
  it('opaque and encrypted tokens are not read', () => {
    expect(judgeExchanged('opaque-token', 'orders', NOW)).toMatchObject({ kind: 'opaque' });
    expect(judgeExchanged('a.b.c.d.e', 'orders', NOW)).toMatchObject({ kind: 'opaque' });
    expect(judgeExchanged(`${b64('not json')}.x.y`, 'orders', NOW)).toMatchObject({ kind: 'opaque' });
    expect(judgeExchanged(jwt({ aud: 'x' }, { typ: 'JWT' }), 'orders', NOW)).toMatchObject({ kind: 'opaque' }); // no alg: no JWS
  });

  it('a JWT for the audience asked for (string or list) passes with its exp', () => {
    expect(judgeExchanged(jwt({ aud: 'orders', exp: NOW + 60 }), 'orders', NOW)).toMatchObject({ kind: 'jwt', exp: NOW + 60 });
    expect(judgeExchanged(jwt({ aud: ['a', 'orders'] }), 'orders', NOW)).toMatchObject({ kind: 'jwt', exp: null });
  });

  it.each([
    ['another audience', { aud: 'billing', exp: NOW + 60 }, 'exchange_audience_mismatch'],
    ['no aud', { exp: NOW + 60 }, 'exchange_audience_mismatch'],
    ['an aud that is no string', { aud: [1], exp: NOW + 60 }, 'exchange_audience_mismatch'],
    ['expired', { aud: 'orders', exp: NOW }, 'exchange_token_expired'],
    ['an exp that is no number', { aud: 'orders', exp: 'soon' }, 'exchange_token_malformed'],
    ['claims that are no object', [1, 2], 'exchange_token_malformed'],
    ['client claims naming two clients (a client revocation of one would miss it)', { aud: 'orders', client_id: 'a', azp: 'billing' }, 'exchange_token_malformed'],
    ['a sub with a space at its end', { aud: 'orders', sub: 'billing ' }, 'exchange_token_malformed'],
  ])('refuses a JWT with %s', (_name, claims, reason) => {
    const v = judgeExchanged(jwt(claims), 'orders', NOW);
    expect(v).toMatchObject({ kind: 'unusable', reason });
    expect(JSON.stringify(v)).not.toContain('billing'); // the detail never quotes the claims
  });
});

it('carries the token\'s revocation keys: its SHA-256, and a JWT\'s jti, sub, client and kid', () => {
  const t = jwt({ aud: 'orders', jti: 'j-1', sub: 'alice', client_id: 'web', iss: 'https://as' }, { alg: 'ES256', kid: 'k1' });
  expect(judgeExchanged(t, 'orders', NOW)).toMatchObject({ facts: { jti: 'j-1', sub: 'alice', clientId: 'web', kid: 'k1', iss: 'https://as' } });
  expect(judgeExchanged('opaque', null, NOW)).toMatchObject({ kind: 'opaque', facts: { tokenHash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
});
