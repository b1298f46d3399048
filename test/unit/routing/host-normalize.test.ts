// Host header normalisation (issue 8, item 2): the host routes are matched on and the Host
// value forwarded, as virtual-host routers read them; invalid values refused. Examples plus
// properties against the WHATWG URL parser's reading of the same host.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { normalizedHostHeader, routingHost } from '../../../node/routing/host-normalize.js';

describe('routingHost / normalizedHostHeader: examples', () => {
  it.each([
    ['', '', ''],
    ['example.com', 'example.com', 'example.com'],
    ['Example.COM:8080', 'example.com', 'example.com:8080'],
    ['example.com.', 'example.com', 'example.com'],
    ['EXAMPLE.com.:443', 'example.com', 'example.com:443'],
    ['[::1]:443', '[::1]', '[::1]:443'],
    ['[::1]', '[::1]', '[::1]'],
    ['[::FFFF:7f00:1]:80', '[::ffff:7f00:1]', '[::ffff:7f00:1]:80'],
    ['127.0.0.1:80', '127.0.0.1', '127.0.0.1:80'],
    ['my_service.internal', 'my_service.internal', 'my_service.internal'],
    ['localhost', 'localhost', 'localhost'],
  ])('%j → routes on %j, forwards %j', (raw, host, forwarded) => {
    expect(routingHost(raw)).toBe(host);
    expect(normalizedHostHeader(raw)).toBe(forwarded);
  });

  it.each([
    'example.com..', '.example.com', 'a..b', '.', ':80', 'example.com:', 'example.com:65536', 'example.com:1x',
    'example.com:80:80', 'a@b', '3', '0x7f.1', '017.0.0.1', '127.1', '256.0.0.1', '1.2.3.4.5', 'a.0x10', 'a.12', 'a/b', 'a b', 'a%2eb', 'a\\b', '*.example.com', '[::1', '[::1]x', '[::1]:', '[]',
    '[fe80::1%25eth0]', '[::g]', `${'a'.repeat(64)}.com`, `${'abcdefghi.'.repeat(26)}com`, 'exämple.com',
  ])('%j is refused', (raw) => {
    expect(routingHost(raw)).toBeNull();
    expect(normalizedHostHeader(raw)).toBeNull();
  });
});

const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const label = fc.tuple(fc.constantFrom(...letters.split('')), fc.string({ unit: fc.constantFrom(...`${letters}0123456789-`.split('')), maxLength: 11 }))
  .map(([a, b]) => a + b).filter((l) => !l.endsWith('-'));
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const port = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });

describe('routingHost: properties', () => {
  it('a DNS name, with or without one trailing dot and a port, routes as the URL parser reads its host', () => {
    fc.assert(fc.property(name, fc.boolean(), port, (n, dot, p) => {
      const raw = `${n}${dot ? '.' : ''}${p === undefined ? '' : `:${p}`}`;
      const host = routingHost(raw);
      // WHATWG URL lower-cases the host and keeps a trailing dot; routers drop one
      const url = new URL(`http://${raw}/`).hostname.replace(/\.$/, '');
      expect(host).toBe(url);
      expect(routingHost(normalizedHostHeader(raw)!)).toBe(host);
    }), { numRuns: 2000 });
  });

  it('a dotted-quad IPv4 address routes as itself (as the URL parser reads it)', () => {
    fc.assert(fc.property(ipv4, port, (ip, p) => {
      const raw = `${ip}${p === undefined ? '' : `:${p}`}`;
      expect(routingHost(raw)).toBe(new URL(`http://${raw}/`).hostname);
    }), { numRuns: 1000 });
  });

  it('normalisation is idempotent and never changes the port', () => {
    fc.assert(fc.property(name, fc.boolean(), port, (n, dot, p) => {
      const raw = `${n}${dot ? '.' : ''}${p === undefined ? '' : `:${p}`}`;
      const f = normalizedHostHeader(raw)!;
      expect(normalizedHostHeader(f)).toBe(f);
      expect(f.endsWith(p === undefined ? routingHost(raw)! : `:${p}`)).toBe(true);
    }), { numRuns: 1000 });
  });

  it('never throws, and anything accepted is made of host characters only', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (raw) => {
      const h = routingHost(raw);
      if (h !== null && h !== '') expect(h).toMatch(/^([a-z0-9._-]+|\[[0-9a-f:.]+\])$/);
    }), { numRuns: 3000 });
  });
});

describe('routingHost memo (the last value is kept)', () => {
  it('answers repeated and interleaved values exactly as a first call does, positions included', () => {
    const values = ['127.0.0.1:8080', 'Admin.Example.:8080', 'api.example', 'API.example', '[::1]:443', 'bad host', '', 'a.example.', '0x7f.1'];
    const cold = (v: string): [string | null, string | null] => {
      routingHost('reset.invalid'); // another value first: no memo hit
      const r = routingHost(v);
      routingHost('reset.invalid');
      return [r, normalizedHostHeader(v)];
    };
    const expected = new Map(values.map((v) => [v, cold(v)]));
    fc.assert(fc.property(fc.array(fc.constantFrom(...values), { minLength: 1, maxLength: 30 }), (seq) => {
      for (const v of seq) {
        const copy = Buffer.from(v, 'latin1').toString('latin1'); // a fresh string, as every request brings
        const [r, n] = expected.get(v)!;
        if (routingHost(copy) !== r || routingHost(copy) !== r || normalizedHostHeader(copy) !== n || normalizedHostHeader(copy) !== n) return false;
      }
      return true;
    }));
  });
});
