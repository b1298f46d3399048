// The per-client introspection budget: places taken and given back per key, the table holding only
// keys with a place, and the key an address is charged under (IPv4 itself, IPv6 by its /64).
import { describe, it, expect } from 'vitest';
import { ClientBudget, clientKey, defaultPerClientMax } from '../../../node/introspection/client-budget.js';

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

  it('defaults to a quarter of connections + max_pending, at least 1', () => {
    expect(defaultPerClientMax(64, 64)).toBe(32);
    expect(defaultPerClientMax(8, 8)).toBe(4);
    expect(defaultPerClientMax(1, 0)).toBe(1);
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
