// Path normalisation before routing: spelling tricks collapse to one path or are
// refused (null → 400), so a route cannot be bypassed. Examples plus properties.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { posix } from 'node:path';
import { normalizePath, stripParams } from '../../../node/routing/path-normalize.js';

describe('normalizePath: examples', () => {
  it.each([
    ['/', '/'],
    ['/orders/42', '/orders/42'],
    ['/a/../b', '/b'],
    ['/a/./b', '/a/b'],
    ['/a//b', '/a/b'],
    ['//a', '/a'],
    ['/a/b/', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/%2E%2e/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/%61dmin', '/admin'], // unreserved escapes are decoded
    ['/a%3bb', '/a%3Bb'], // reserved escapes are kept, upper-cased
    ['/a%3Bb', '/a%3Bb'],
    ['/a%3Bb/c', '/a%3Bb/c'], // an encoded ; is data to every family: kept, not a parameter
    ['/~user/a-b_c.d', '/~user/a-b_c.d'],
  ])('%s → %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });

  it.each([
    ['', 'empty'],
    ['a/b', 'no leading slash'],
    ['/..', 'above the root'],
    ['/a/../..', 'above the root after a segment'],
    ['/%2e%2e/etc/passwd', 'encoded dots above the root'],
    ['/a%2Fb', 'encoded slash'],
    ['/a%2fb', 'encoded slash, lower case'],
    ['/a%5Cb', 'encoded backslash'],
    ['/a\\b', 'backslash'],
    ['/a\\..\\b', 'backslash traversal'],
    ['/a%00b', 'encoded NUL'],
    ['/a\u0000b', 'raw NUL'],
    ['/a%0ab', 'encoded control byte'],
    ['/a%7Fb', 'encoded DEL'],
    ['/a%252e%252e', 'double encoding (%25)'],
    ['/a%2', 'truncated escape'],
    ['/a%zz', 'invalid escape'],
    ['/a b', 'space'],
    ['/a#b', 'fragment'],
    ['/é', 'non-ASCII'],
    ['/api/v1;x=1', 'path parameters (server.paths.allow_params off)'],
    ['/public/..;/admin/x', 'dot segment with a parameter'],
    ['/public/%2e%2e;/admin/x', 'encoded dot segment with a parameter'],
    ['/v;a/x', 'a parameter'],
    ['/x;', 'an empty parameter'],
  ])('%j is refused (%s)', (raw) => {
    expect(normalizePath(raw)).toBeNull();
  });
});

describe('normalizePath with allow_params, and stripParams (the Servlet reading)', () => {
  it.each([
    ['/api/v1;x=1', '/api/v1;x=1', '/api/v1'],
    ['/cars;color=red/x;v=1;w=2', '/cars;color=red/x;v=1;w=2', '/cars/x'],
    ['/a;jsessionid=ABC/../b', '/b', '/b'],
    ['/%61;x/b', '/a;x/b', '/a/b'],
    ['/a%3Bb;c/d', '/a%3Bb;c/d', '/a%3Bb/d'],
    ['/a/b;', '/a/b;', '/a/b'],
  ])('%j → forwarded %j, routed on %j', (raw, forwarded, routed) => {
    expect(normalizePath(raw, true)).toBe(forwarded);
    expect(stripParams(forwarded)).toBe(routed);
  });

  it.each([
    ['/public/..;/admin/x', 'Tomcat: /admin/x; nginx: a segment named "..;"'],
    ['/public/%2e%2e;/admin/x', 'the same, encoded'],
    ['/x/.;a/v', 'a "." with a parameter'],
    ['/x/;a/v', 'an empty name with a parameter'],
    ['/;', 'only a parameter'],
  ])('%j is still refused (%s)', (raw) => {
    expect(normalizePath(raw, true)).toBeNull();
  });
});

// Segments made of characters that matter to normalisation.
const segChar = fc.constantFrom('a', 'b', 'Z', '0', '.', '-', '_', '~', ';', '=', '%2e', '%2E', '%41', '%3b', '%2f', '%5c', '%00', '%25', '\\', '/');
const segment = fc.oneof(
  fc.constantFrom('', '.', '..', '%2e%2e', '.%2e', 'api', 'admin', 'orders'),
  fc.array(segChar, { minLength: 1, maxLength: 6 }).map((a) => a.join('')),
);
const rawPath = fc.array(segment, { minLength: 1, maxLength: 8 }).map((segs) => '/' + segs.join('/'));
const unreserved = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
const cleanSeg = fc.string({ unit: fc.constantFrom(...unreserved.split('')), minLength: 1, maxLength: 6 }).filter((s) => s !== '.' && s !== '..');

describe('normalizePath: properties', () => {
  it('result is null or a canonical absolute path: no //, no dot segments, no encoded separators', () => {
    fc.assert(fc.property(rawPath, (raw) => {
      const p = normalizePath(raw);
      if (p === null) return;
      expect(p.startsWith('/')).toBe(true);
      expect(p).not.toMatch(/\/\//);
      expect(p.split('/')).not.toContain('..');
      expect(p.split('/')).not.toContain('.');
      expect(p).not.toMatch(/%(2[fF]|5[cC]|00|25)/);
      expect(p).not.toContain('\\');
    }), { numRuns: 2000 });
  });

  it('is idempotent', () => {
    fc.assert(fc.property(rawPath, (raw) => {
      const p = normalizePath(raw);
      if (p !== null) expect(normalizePath(p)).toBe(p);
    }), { numRuns: 2000 });
  });

  it('any path with an encoded slash, backslash, NUL or %25 is refused', () => {
    const bad = fc.constantFrom('%2f', '%2F', '%5c', '%5C', '%00', '%25', '\\', '\u0000');
    fc.assert(fc.property(rawPath, bad, fc.nat(), (raw, b, at) => {
      const i = 1 + (at % raw.length);
      expect(normalizePath(raw.slice(0, i) + b + raw.slice(i))).toBeNull();
    }), { numRuns: 1000 });
  });

  it('agrees with POSIX dot-segment resolution on clean segments, and refuses escapes above the root', () => {
    const seg = fc.oneof({ weight: 3, arbitrary: cleanSeg }, { weight: 1, arbitrary: fc.constantFrom('.', '..', '') });
    fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 8 }), (segs) => {
      const raw = '/' + segs.join('/');
      // A ".." with nothing left to remove escapes the root → refused.
      let depth = 0, escapes = false;
      for (const s of segs) {
        if (s === '..') { if (depth === 0) escapes = true; else depth--; } else if (s !== '.' && s !== '') depth++;
      }
      const p = normalizePath(raw);
      if (escapes) { expect(p).toBeNull(); return; }
      // RFC 3986 §5.2.4 keeps a trailing slash after a final dot segment ("/a/b/.." → "/a/");
      // posix.normalize drops it, so add it back.
      let want = posix.normalize(raw);
      const last = segs[segs.length - 1];
      if ((last === '.' || last === '..') && !want.endsWith('/')) want += '/';
      expect(p).toBe(want);
    }), { numRuns: 3000 });
  });

  it('any overlong UTF-8 escape of an ASCII character is refused (lenient decoders read %C0%AE as ".")', () => {
    // every overlong form of a code point below 0x80: 2-byte C0/C1 xx, 3-byte E0 80..9F xx, 4-byte F0 80..8F xx xx
    const hex = (b: number): string => '%' + b.toString(16).toUpperCase().padStart(2, '0');
    const cont = fc.integer({ min: 0x80, max: 0xbf });
    const overlong = fc.oneof(
      fc.tuple(fc.constantFrom(0xc0, 0xc1), cont).map((bs) => bs.map(hex).join('')),
      fc.tuple(fc.integer({ min: 0x80, max: 0x9f }), cont).map(([a, b]) => hex(0xe0) + hex(a) + hex(b)),
      fc.tuple(fc.integer({ min: 0x80, max: 0x8f }), cont, cont).map(([a, b, c]) => hex(0xf0) + hex(a) + hex(b) + hex(c)),
    );
    fc.assert(fc.property(rawPath, overlong, fc.nat(), fc.boolean(), (raw, o, at, lower) => {
      const i = 1 + (at % raw.length);
      expect(normalizePath(raw.slice(0, i) + (lower ? o.toLowerCase() : o) + raw.slice(i))).toBeNull();
    }), { numRuns: 1000 });
    // shortest forms and Latin-1 bytes that start no overlong sequence pass, upper-cased
    expect(normalizePath('/caf%c3%a9/%e2%82%ac/%f0%9f%98%80')).toBe('/caf%C3%A9/%E2%82%AC/%F0%9F%98%80');
    expect(normalizePath('/%E9t%E9/%C0x')).toBe('/%E9t%E9/%C0x');
  });

  it('an escape of any character whose compatibility form (NFKC) is a dot run or holds / or \\ is refused', () => {
    // derived from ICU, not from the proxy's table: an upstream folding with NFKC reads /x/．．/admin as /admin
    const esc = (c: string): string => [...Buffer.from(c, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase()).join('');
    const found: string[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp < 0xe000) continue;
      const c = String.fromCodePoint(cp);
      const n = c.normalize('NFKC');
      if (n === c || !(/^\.+$/.test(n) || n.includes('/') || n.includes('\\'))) continue;
      found.push(c);
      expect(normalizePath(`/public/${esc(c)}/admin`), `U+${cp.toString(16)}`).toBeNull();
      expect(normalizePath(`/public/${esc(c).toLowerCase()}${esc(c)}/admin`), `U+${cp.toString(16)}`).toBeNull();
    }
    expect(found.length).toBeGreaterThanOrEqual(14);
    // their neighbours and other non-ASCII characters pass, escapes upper-cased
    expect(normalizePath('/a/%ef%bc%90/%E2%80%A7/%EF%BC%A1/%E6%97%A5')).toBe('/a/%EF%BC%90/%E2%80%A7/%EF%BC%A1/%E6%97%A5');
    expect(normalizePath('/a/%EF%BC/%8E')).toBe('/a/%EF%BC/%8E'); // split by a '/', not one character
  });

  it('percent-encoding an unreserved character does not change the result', () => {
    fc.assert(fc.property(fc.array(cleanSeg, { minLength: 1, maxLength: 5 }), fc.nat(), (segs, at) => {
      const raw = '/' + segs.join('/');
      const positions = [...raw].map((c, i) => (c === '/' ? -1 : i)).filter((i) => i >= 0);
      const i = positions[at % positions.length]!;
      const enc = raw.slice(0, i) + '%' + raw.charCodeAt(i).toString(16).padStart(2, '0') + raw.slice(i + 1);
      expect(normalizePath(enc)).toBe(normalizePath(raw));
    }), { numRuns: 2000 });
  });
});
