// Which upstream 401 challenges count as a refusal of the proxy's own outbound token (RFC 6750 §3.1
// `error="invalid_token"` in a Bearer challenge) and which do not.
import { describe, expect, it } from 'vitest';
import { invalidTokenChallenge } from '../../../node/pipeline/outbound-refusal.js';

describe('invalidTokenChallenge', () => {
  it.each([
    ['Bearer error="invalid_token"', true],
    ['Bearer realm="api", error="invalid_token", error_description="expired"', true],
    ['bearer ERROR=invalid_token', true],
    ['Basic realm="x", Bearer realm="y", error="invalid_token"', true],
    ['Bearer realm="api"', false],
    ['Bearer error="insufficient_scope", scope="a"', false],
    ['Bearer error="invalid_token_x"', false],
    ['Bearer error_description="invalid_token"', false],
    ['DPoP error="invalid_token"', false],
    ['Basic error="invalid_token", Bearer realm="y"', false],
  ])('%s → %s', (value, expected) => {
    expect(invalidTokenChallenge(['content-type', 'text/plain', 'www-authenticate', value])).toBe(expected);
  });

  it('looks at every www-authenticate field and at nothing else', () => {
    expect(invalidTokenChallenge(['www-authenticate', 'Basic realm="x"', 'www-authenticate', 'Bearer error="invalid_token"'])).toBe(true);
    expect(invalidTokenChallenge(['x-www-authenticate', 'Bearer error="invalid_token"'])).toBe(false);
    expect(invalidTokenChallenge([])).toBe(false);
  });
});
