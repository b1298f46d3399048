// The compact-JWS parser and the worker's verify function on hostile input: exact
// segment counts, strict base64url, JSON objects only, the 16 KiB limit, and a
// property test that random strings never throw and never verify.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { MAX_TOKEN_BYTES, parseCompact, verifyTask, type VerifyTask } from '../../../node/jwt/index.js';
import { b64url } from '../../fixtures/tokens.js';

const H = b64url({ alg: 'RS256', kid: 'k' });
const P = b64url({ iss: 'x', exp: 1 });

describe('parseCompact', () => {
  it('accepts header.payload.signature with JSON objects', () => {
    const r = parseCompact(`${H}.${P}.c2ln`);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.header).toEqual({ alg: 'RS256', kid: 'k' });
      expect(r.payload).toEqual({ iss: 'x', exp: 1 });
      expect(r.signature).toBe('c2ln');
    }
  });

  it.each([
    ['two segments', `${H}.${P}`],
    ['four segments', `${H}.${P}.c2ln.c2ln`],
    ['five segments (JWE)', `${H}.${P}.a.b.c`],
    ['empty', ''],
    ['dots only', '..'],
    ['empty header', `.${P}.c2ln`],
    ['empty payload', `${H}..c2ln`],
    ['padding in header', `${H}=.${P}.c2ln`],
    ['standard base64 alphabet', `${b64url('{"alg":"RS256","x":"??>"}').replace(/_/g, '/').replace(/-/g, '+')}.${P}.c2ln`],
    ['space inside', `${H} .${P}.c2ln`],
    ['header is an array', `${b64url([1, 2])}.${P}.c2ln`],
    ['header is a string', `${b64url('"RS256"')}.${P}.c2ln`],
    ['header is null', `${b64url('null')}.${P}.c2ln`],
    ['payload is not JSON', `${H}.${b64url('not json')}.c2ln`],
    ['payload is a number', `${H}.${b64url('42')}.c2ln`],
    ['invalid UTF-8 in payload', `${H}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.c2ln`],
    ['signature with illegal chars', `${H}.${P}.c2l*`],
  ])('refuses %s as malformed', (_name, token) => {
    const r = parseCompact(token);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('malformed');
  });

  it('decodes non-ASCII claims as UTF-8 and ASCII ones byte for byte (the ASCII path skips the decoder)', () => {
    const utf8 = parseCompact(`${H}.${Buffer.from('{"name":"Zoë ✓","n":1}', 'utf8').toString('base64url')}.c2ln`);
    expect(utf8.ok && utf8.payload).toEqual({ name: 'Zoë ✓', n: 1 });
    const ascii = parseCompact(`${H}.${Buffer.from('{"sub":"a\\u00e9~"}', 'latin1').toString('base64url')}.c2ln`);
    expect(ascii.ok && ascii.payload).toEqual({ sub: 'aé~' });
    // latin1 bytes that are not UTF-8 (é as 0xE9) stay malformed
    expect(parseCompact(`${H}.${Buffer.from('{"sub":"é"}', 'latin1').toString('base64url')}.c2ln`).ok).toBe(false);
  });

  it('tokens with the same header segment share one frozen header; another segment parses on its own', () => {
    const a = parseCompact(`${H}.${P}.c2ln`);
    const b = parseCompact(`${H}.${b64url({ iss: 'y', exp: 2 })}.c2ln`);
    const other = parseCompact(`${b64url({ alg: 'ES256', kid: 'k' })}.${P}.c2ln`);
    expect(a.ok && b.ok && other.ok).toBe(true);
    if (!a.ok || !b.ok || !other.ok) return;
    expect(b.header).toBe(a.header);
    expect(Object.isFrozen(a.header)).toBe(true);
    expect(() => { (a.header as Record<string, unknown>).alg = 'none'; }).toThrow(TypeError);
    expect(parseCompact(`${H}.${P}.c2ln`).ok && a.header.alg).toBe('RS256');
    expect(other.header).toEqual({ alg: 'ES256', kid: 'k' });
    // a cached header does not make a bad token good: the rest is still parsed every time
    expect(parseCompact(`${H}.${P}x.c2ln`).ok).toBe(false);
    expect(parseCompact(`${H}.${P}.c2l*`).ok).toBe(false);
    expect(parseCompact(`${H}x.${P}.c2ln`).ok).toBe(false);
  });

  it('the last header segment is matched whole: a longer, shorter or one-character-different segment gets its own header', () => {
    const last = b64url({ alg: 'RS256', kid: 'abc' });
    const first = parseCompact(`${last}.${P}.c2ln`);
    expect(first.ok && first.header).toEqual({ alg: 'RS256', kid: 'abc' });
    // same length, one character apart (kid abd): not the last header
    const near = b64url({ alg: 'RS256', kid: 'abd' });
    expect(near.length).toBe(last.length);
    const n = parseCompact(`${near}.${P}.c2ln`);
    expect(n.ok && n.header).toEqual({ alg: 'RS256', kid: 'abd' });
    // the last segment as a prefix of a longer one, and a shorter prefix of it: parsed (and refused) on their own
    const again = parseCompact(`${last}.${P}.c2ln`);
    expect(again.ok && again.header).toEqual({ alg: 'RS256', kid: 'abc' });
    expect(parseCompact(`${last}AAAA.${P}.c2ln`).ok).toBe(false);
    expect(parseCompact(`${last.slice(0, -4)}.${P}.c2ln`).ok).toBe(false);
    const longer = b64url({ alg: 'RS256', kid: 'abc', typ: 'at+jwt' });
    const l = parseCompact(`${longer}.${P}.c2ln`);
    expect(l.ok && l.header).toEqual({ alg: 'RS256', kid: 'abc', typ: 'at+jwt' });
    // back to the first: still its own object, frozen
    const back = parseCompact(`${last}.${P}.c2ln`);
    expect(back.ok && first.ok && back.header).toBe(first.ok && first.header);
    expect(back.ok && Object.isFrozen(back.header)).toBe(true);
  });

  it('property: a segment spelled with non-zero unused bits in its last character is refused (one spelling per token)', () => {
    // base64url's last character of a 4n+2 / 4n+3 segment carries 4 / 2 bits the decoder ignores: without
    // this rule `…Q` and `…R` are the same signed token under two SHA-256 hashes (revocation by token hash)
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const bytes = fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((b) => b.length % 3 !== 0);
    fc.assert(fc.property(bytes, fc.integer({ min: 1, max: 15 }), fc.constantFrom(0, 1, 2), (b, flip, where) => {
      const canon = Buffer.from(b).toString('base64url');
      const unused = canon.length % 4 === 2 ? 15 : 3;
      if ((flip & unused) === 0) return;
      const variant = canon.slice(0, -1) + A[A.indexOf(canon[canon.length - 1]!) ^ (flip & unused)];
      expect(Buffer.from(variant, 'base64url').equals(Buffer.from(b))).toBe(true); // the same bytes…
      const segs = [H, P, canon];
      expect(parseCompact(segs.join('.')).ok).toBe(true);
      if (where !== 2) return; // header and payload: JSON needed, checked below
      segs[2] = variant;
      expect(parseCompact(segs.join('.')).ok).toBe(false); // …refused as another spelling
    }), { numRuns: 500 });
    const p2 = b64url({ iss: 'x', exp: 12 }); // 4n+2 or 4n+3 long
    expect(p2.length % 4).not.toBe(0);
    const A2 = A[A.indexOf(p2[p2.length - 1]!) ^ 1]!; // bit 0 is unused in both cases
    expect(parseCompact(`${H}.${p2}.c2ln`).ok).toBe(true);
    expect(parseCompact(`${H}.${p2.slice(0, -1)}${A2}.c2ln`).ok).toBe(false);
    const h2 = b64url({ alg: 'RS256', kid: 'kk' });
    if (h2.length % 4 !== 0) expect(parseCompact(`${h2.slice(0, -1)}${A[A.indexOf(h2[h2.length - 1]!) ^ 1]}.${P}.c2ln`).ok).toBe(false);
  });

  it('refuses a header segment of impossible length (4n+1)', () => {
    const bad = 'A'.repeat(5);
    expect(parseCompact(`${bad}.${P}.c2ln`).ok).toBe(false);
  });

  it('refuses tokens over 16 KiB before parsing', () => {
    const big = `${H}.${b64url({ pad: 'x'.repeat(MAX_TOKEN_BYTES) })}.c2ln`;
    const r = parseCompact(big);
    expect(r).toMatchObject({ ok: false, code: 'oversized' });
  });

  it('refuses non-strings', () => {
    expect(parseCompact(undefined).ok).toBe(false);
    expect(parseCompact(42).ok).toBe(false);
  });
});

describe('property: hostile strings', () => {
  const segment = fc.oneof(
    fc.string(),
    fc.base64String().map((s) => s.replace(/=+$/, '')),
    fc.json().map((j) => b64url(j)),
    fc.dictionary(fc.string(), fc.jsonValue()).map((o) => b64url(o)),
    fc.constantFrom(H, P, '', 'e30', 'bnVsbA'),
  );
  const token = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.array(segment, { minLength: 0, maxLength: 6 }).map((a) => a.join('.')),
  );

  it('parseCompact never throws and anything it accepts has object header and payload', () => {
    fc.assert(fc.property(token, (t) => {
      const r = parseCompact(t);
      if (r.ok) {
        expect(typeof r.header).toBe('object');
        expect(Array.isArray(r.payload)).toBe(false);
      } else {
        expect(['malformed', 'oversized']).toContain(r.code);
      }
    }), { numRuns: 2000 });
  });

  it.each(['node', 'jose'] as const)('the worker entry (%s engine) never throws and never accepts', async (engine) => {
    const install = {
      version: 1,
      policy: { issuer: 'x', audiences: ['a'], algorithms: ['RS256', 'ES256'], clockSkewS: 60, maxLifetimeS: null, requireTyp: false },
      keys: [],
    };
    await fc.assert(fc.asyncProperty(token, async (t) => {
      const task: VerifyTask = { token: t, issuer: 'prop', version: 1, now: Date.now() / 1000, install };
      const r = await verifyTask(task, engine);
      expect(r.ok).toBe(false);
    }), { numRuns: 1000 });
  });
});
