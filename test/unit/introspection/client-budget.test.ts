// The optional per-client introspection cap: places taken and given back per key, the table holding only
// keys with a place, the key an address is charged under (IPv4 itself, IPv6 by its /64), and the
// client's accounting against a held authorization server (joins and cache hits free, late calls held).
import { describe, it, expect, afterEach } from 'vitest';
import type { ServerResponse } from 'node:http';
import { ClientBudget, clientKey } from '../../../node/introspection/client-budget.js';
import { requestClient } from '../../../node/pipeline/request-client.js';
import type { VerifyOutcome } from '../../../node/pipeline/token-verifier.js';
import { waitFor } from '../../helpers/wait.js';
import { client, closeClients, issuer, scriptedAs } from './client-fixtures.js';

afterEach(closeClients);

describe('ClientBudget', () => {
  it('gives each client at most max places and forgets a client once it holds none', () => {
    const b = new ClientBudget(2);
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, false]);
    expect(b.take('b')).toBe(true);
    expect(b.clients).toBe(2);
    b.give('a');
    expect(b.take('a')).toBe(true);
    b.give('a'); b.give('a'); b.give('b');
    expect(b.clients).toBe(0);
  });

  it('is off by default (per_client_max 0): the fair queue shares the places without a cap', () => {
    expect(issuer('http://127.0.0.1:1/introspect').introspection?.per_client_max).toBe(0);
  });
});

describe('clientKey', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0000:1111:2222:3333:4444', '2001:db8:0:0::/64'],
    ['2001:db8:0:1::5', '2001:db8:0:1::/64'],
    ['::1', '0:0:0:0::/64'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4::/64'],
    ['::1.2.3.4', '0:0:0:0::/64'],
    ['', ''],
  ])('%s is charged as %s', (address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it('charges every address of one /64 as one client', () => {
    const keys = new Set(['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0000:0000:0000:abcd'].map(clientKey));
    expect(keys.size).toBe(1);
  });
});

describe('requestClient', () => {
  const headers = ['x-forwarded-for', '198.51.100.1, 203.0.113.9'];
  it('names the client the access log names, reading the peer only when nothing read it', () => {
    let reads = 0;
    const peer = { peerAddress: () => { reads++; return '127.0.0.2'; } };
    expect(requestClient({ client: '192.0.2.1', remoteAddress: '', peer, headers }, 1)).toBe('192.0.2.1');
    expect(requestClient({ remoteAddress: '10.0.0.1', peer, headers }, 0)).toBe('10.0.0.1');
    expect(reads).toBe(0);
    expect(requestClient({ remoteAddress: '', peer, headers }, 0)).toBe('127.0.0.2');
    expect(requestClient({ remoteAddress: '', peer, headers }, 1)).toBe('203.0.113.9');
    expect(requestClient({ remoteAddress: '', peer, headers }, 2)).toBe('198.51.100.1');
    expect(requestClient({ remoteAddress: '', peer: null, headers: [] }, 0)).toBe('');
    expect(reads).toBe(3);
  });
});

describe('IntrospectionClient with per_client_max', () => {
  it('refuses a client past its share at once, charges neither joins nor cache hits, and keeps a timed-out call\'s place until it leaves the wire', async () => {
    const as = await scriptedAs();
    const held: ServerResponse[] = [];
    as.setReply((res) => { held.push(res); });
    const answer = (): void => { for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}'); };
    try {
      const c = client(as.url, { connections: 4, max_pending: 4, per_client_max: 2, timeout_ms: 200 });
      let asked = 0;
      const from = (address: string) => () => { asked++; return address; };
      const a1 = c.lookup('junk-1', undefined, from('192.0.2.1'));
      const a2 = c.lookup('junk-2', undefined, from('192.0.2.1'));
      const joined = c.lookup('junk-1', undefined, from('192.0.2.1'));
      expect(asked, 'a join reads no address').toBe(2);
      const refused = c.lookup('junk-3', undefined, from('192.0.2.1')) as VerifyOutcome;
      expect(refused.ok).toBe(false);
      if (!refused.ok) {
        expect(refused.reason).toBe('introspection_client_limited');
        expect(refused.error).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 5 });
      }
      // another client, and the same /64 as one
      expect(c.lookup('other-1', undefined, from('2001:db8::1'))).toBeInstanceOf(Promise);
      expect(c.lookup('other-2', undefined, from('2001:db8::2'))).toBeInstanceOf(Promise);
      expect((c.lookup('other-3', undefined, from('2001:db8::3')) as VerifyOutcome).ok).toBe(false);
      // the waiters time out; the calls stay on the wire and keep their places
      for (const r of await Promise.all([a1, a2, joined])) expect(r.ok === false && r.reason).toBe('introspection_timeout');
      expect((c.lookup('junk-4', undefined, from('192.0.2.1')) as VerifyOutcome).ok).toBe(false);
      expect(c.stats().calls_client_limited).toBe(3);
      // the server answers: the places come back, and the answers are cached (a hit costs nothing)
      await waitFor('the four calls reached the AS', () => as.seen.length >= 4, 10_000);
      answer();
      // junk-1 and junk-2 surely timed out; the other client's two may have been answered in time on a slow host
      await waitFor('the four answers arrived', () => c.stats().calls_late + c.stats().calls_inactive >= 4, 10_000);
      asked = 0;
      const hit = c.lookup('junk-1', undefined, from('192.0.2.1')) as VerifyOutcome;
      expect(hit.ok === false && hit.reason).toBe('inactive');
      expect(asked, 'a cache hit reads no address').toBe(0);
      const again = c.lookup('junk-3', undefined, from('192.0.2.1'));
      answer();
      await waitFor('the AS was asked for the refused token', () => as.seen.length >= 5, 10_000);
      answer();
      expect((await again).ok === false && ((await again) as { reason: string }).reason).toBe('inactive');
    } finally {
      answer();
      as.server.closeAllConnections();
      await new Promise((resolve) => as.server.close(resolve));
    }
  });
});
