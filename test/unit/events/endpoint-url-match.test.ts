// The transmitter's `delivery.endpoint_url` against the configured poll/push URL: the same URL spelled
// another way (query reordered, scheme/host case, default port) matches; anything that could name
// another endpoint or carry another key does not.
import { describe, expect, it } from 'vitest';
import { sameEndpointUrl } from '../../../node/events/index.js';

const BASE = 'https://tx.example/ssf/poll?key=s3cret&tenant=7';

describe('sameEndpointUrl', () => {
  it.each([
    ['query parameters in another order', 'https://tx.example/ssf/poll?tenant=7&key=s3cret'],
    ['scheme and host in upper case', 'HTTPS://TX.Example/ssf/poll?key=s3cret&tenant=7'],
    ['the default port spelled out', 'https://tx.example:443/ssf/poll?tenant=7&key=s3cret'],
    ['a dot segment in the path', 'https://tx.example/ssf/./poll?key=s3cret&tenant=7'],
  ])('matches: %s', (_, other) => {
    expect(sameEndpointUrl(other, BASE)).toBe(true);
    expect(sameEndpointUrl(BASE, other)).toBe(true);
  });

  it.each([
    ['another parameter value', 'https://tx.example/ssf/poll?key=s3cret&tenant=8'],
    ['a parameter missing', 'https://tx.example/ssf/poll?key=s3cret'],
    ['a parameter repeated', 'https://tx.example/ssf/poll?key=s3cret&tenant=7&tenant=7'],
    ['a parameter added', 'https://tx.example/ssf/poll?key=s3cret&tenant=7&x=1'],
    ['another path case', 'https://tx.example/SSF/poll?key=s3cret&tenant=7'],
    ['a trailing slash', 'https://tx.example/ssf/poll/?key=s3cret&tenant=7'],
    ['another port', 'https://tx.example:8443/ssf/poll?key=s3cret&tenant=7'],
    ['another scheme', 'http://tx.example/ssf/poll?key=s3cret&tenant=7'],
    ['userinfo', 'https://u:p@tx.example/ssf/poll?key=s3cret&tenant=7'],
    ['a fragment', 'https://tx.example/ssf/poll?key=s3cret&tenant=7#x'],
    ['a value with an encoded space added', 'https://tx.example/ssf/poll?key=s3cret&tenant=7%20'],
    ['not a URL', 'tx.example/ssf/poll?key=s3cret&tenant=7'],
    ['empty', ''],
  ])('differs: %s', (_, other) => {
    expect(sameEndpointUrl(other, BASE)).toBe(false);
    expect(sameEndpointUrl(BASE, other)).toBe(false);
  });

  it('"+" and "%20" in a value differ (a server may read them apart)', () => {
    expect(sameEndpointUrl('https://t.example/p?a=b+c', 'https://t.example/p?a=b%20c')).toBe(false);
  });
});
