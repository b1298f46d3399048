// What counts as a raw token in operator-written text (node/contracts/token-shape.ts): compact JWS and
// JWE, with or without a Bearer/DPoP prefix, are; identifiers that merely have dots or base64 are not.
// A path as logs write it names such a token by fingerprint and keeps everything else.
import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { carriesCompactToken, isCompactToken, pathWithoutTokens, rawPathWithoutTokens } from '../../../node/contracts/index.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWS = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ sub: 'alice' })}.c2lnbmF0dXJl`;
const JWE = `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.ZW5j.aXY.Y2lwaGVy.dGFn`;

describe('isCompactToken', () => {
  it('is true for a JWS, a JWE and either after Bearer or DPoP', () => {
    for (const t of [JWS, JWE, `Bearer ${JWS}`, `dpop ${JWE}`, `${b64({ alg: 'none' })}.${b64({})}.`]) expect(isCompactToken(t), t).toBe(true);
  });

  it('is true for a token pasted with a space or tab at an end (a kid value may have one: it was stored and sent to every member)', () => {
    for (const t of [`${JWS} `, ` ${JWS}`, `\t${JWE}`, `Bearer ${JWS}  `]) expect(isCompactToken(t), JSON.stringify(t)).toBe(true);
  });

  it('is false for identifiers: a uuid, an email, dotted names, base64 without a JOSE header, 4 parts', () => {
    const notTokens = ['4aa1a9f2-653a-4957-9b6f-51ca470e841c', 'alice@example.com', 'svc.orders.reader', 'rs256-1',
      `${b64({ typ: 'JWT' })}.${b64({})}.x`, `${b64(['alg'])}.e30.x`, `${JWS}.extra`, 'eyJhbGciOiJSUzI1NiJ9'];
    for (const t of notTokens) expect(isCompactToken(t), t).toBe(false);
  });
});

describe('carriesCompactToken', () => {
  it('finds a token inside free text, not a header-less look-alike', () => {
    expect(carriesCompactToken(`leaked in ticket #42: ${JWS} (rotate)`)).toBe(true);
    expect(carriesCompactToken('compromised laptop, user alice')).toBe(false);
    expect(carriesCompactToken(`eyJub3QiOiJhbGcifQ.${b64({})}.x`)).toBe(false);
  });
});

describe('pathWithoutTokens', () => {
  const fp = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 16);

  it('names a JWS or a whole JWE in a path segment by fingerprint, keeping the rest of the path', () => {
    expect(pathWithoutTokens(`/download/${JWS}/file.pdf`)).toBe(`/download/[token ${fp(JWS)}]/file.pdf`);
    expect(pathWithoutTokens(`/a/${JWE}`)).toBe(`/a/[token ${fp(JWE)}]`);
    expect(pathWithoutTokens(`/x/${JWS}/y/${JWS}`)).toBe(`/x/[token ${fp(JWS)}]/y/[token ${fp(JWS)}]`);
  });

  it('returns a path without a token as it is: ids, hashes, an eyJ run whose header names no alg', () => {
    const kept = ['/orders/42', '/', '/blobs/sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      '/files/eyJhbGciOiJSUzI1NiJ9', `/x/eyJub3QiOiJhbGcifQ.${b64({})}.x`, '/q/eyJ%zz.a.b'];
    for (const p of kept) expect(pathWithoutTokens(p), p).toBe(p);
  });
});

describe('rawPathWithoutTokens (a path as received)', () => {
  const fp = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 16);

  it('names a token whose dots or letters are percent-escaped (a path refused before normalising is logged as received)', () => {
    const dots = JWS.replaceAll('.', '%2E');
    expect(rawPathWithoutTokens(`/files/${dots}/%zz`)).toBe(`/files/[token ${fp(JWS)}]/%zz`);
    expect(rawPathWithoutTokens(`/f/${JWS.replace('.', '%2e')}`)).toBe(`/f/[token ${fp(JWS)}]`);
    expect(rawPathWithoutTokens(`/f/%65${JWS.slice(1)}`)).toBe(`/f/[token ${fp(JWS)}]`);
    expect(rawPathWithoutTokens(`/f/${JWE.replaceAll('.', '%2E')}`)).toBe(`/f/[token ${fp(JWE)}]`);
    expect(rawPathWithoutTokens(`/a/${JWS}/b/${JWE.replaceAll('.', '%2e')}`)).toBe(`/a/[token ${fp(JWS)}]/b/[token ${fp(JWE)}]`);
  });

  it('keeps a path with escapes but no token exactly as received (other escapes, %2E between ids)', () => {
    const kept = ['/caf%C3%A9/menu', '/a%2Fb/%41bc', '/v1/report%2Ejson', `/x/eyJub3QiOiJhbGcifQ%2E${b64({})}%2Ex`, '/%zz%2', '/%'];
    for (const p of kept) expect(rawPathWithoutTokens(p), p).toBe(p);
  });

  it('is pathWithoutTokens for a path without escapes', () => {
    expect(rawPathWithoutTokens(`/download/${JWS}/file.pdf`)).toBe(pathWithoutTokens(`/download/${JWS}/file.pdf`));
    expect(rawPathWithoutTokens('/orders/42')).toBe('/orders/42');
  });
});

// The scan that replaced the regexes (review rev49: they were quadratic in a run of `eyJ`, ~0.1 s of event loop
// per access line of an 8 KiB path; bench/results/rev49-path-token-scan-*.txt) finds exactly what they found,
// up to 8 token-shaped runs whose header is read; past them the rest is taken for a token unread.
describe('the token scan reads paths and text as the regexes it replaced did', () => {
  const fp = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 16);
  const IN_PATH = /eyJ[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*){2}(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;
  const EMBEDDED = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
  const jose = (seg: string): boolean => {
    try { const h = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8')) as unknown; return h !== null && typeof h === 'object' && !Array.isArray(h) && typeof (h as { alg?: unknown }).alg === 'string'; } catch { return false; }
  };
  // the regexes, tried again 3 characters into a run whose header is none (a token glued behind it), and
  // past 8 shaped runs the rest named as one token (text: carrying one)
  const byRegex = (p: string): string => {
    const re = new RegExp(IN_PATH.source, 'g');
    let out = '', from = 0, checks = 0;
    for (let m = re.exec(p); m !== null; m = re.exec(p)) {
      if (++checks > 8) return `${out}${p.slice(from, m.index)}[token ${fp(p.slice(m.index))}]`;
      if (jose(m[0].slice(0, m[0].indexOf('.')))) { out += `${p.slice(from, m.index)}[token ${fp(m[0])}]`; from = re.lastIndex; } else re.lastIndex = m.index + 3;
    }
    return out + p.slice(from);
  };
  const carriesByRegex = (t: string): boolean => {
    const re = new RegExp(EMBEDDED.source, 'g');
    let checks = 0;
    for (let m = re.exec(t); m !== null; m = re.exec(t)) {
      if (++checks > 8 || jose(m[0].slice(0, m[0].indexOf('.')))) return true;
      re.lastIndex = m.index + 3;
    }
    return false;
  };
  const HEADER = b64({ alg: 'RS256' });
  const pieces = ['eyJ', 'eyJhbGc', HEADER, JWS, JWE, '.', '..', '/', 'a', 'Zz9', '-_', '%2E', ' ', 'x.y'];

  it('for random paths and texts built of token pieces, dots and base64url runs', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 16 }), (parts) => {
      const p = `/${parts.join('')}`;
      expect(pathWithoutTokens(p)).toBe(p.includes('eyJ') ? byRegex(p) : p);
      expect(carriesCompactToken(p)).toBe(carriesByRegex(p));
    }), { numRuns: 3000 });
  });

  it('a token glued behind a run whose header is none (`eyJ0-<token>`) is named, not written out; text carrying one says so', () => {
    // before, the scan went on after the whole run: the token in it was logged whole
    const glued = `eyJ0-${JWS}`;
    expect(pathWithoutTokens(`/files/${glued}`)).toBe(`/files/eyJ0-[token ${fp(JWS)}]`);
    expect(rawPathWithoutTokens(`/files/${glued}`)).not.toContain(JWS);
    expect(carriesCompactToken(`see ${glued}`)).toBe(true);
  });

  it('for a long run of eyJ, with and without a token after it', () => {
    const run = 'eyJ'.repeat(2700);
    expect(pathWithoutTokens(`/${run}`)).toBe(`/${run}`);
    expect(pathWithoutTokens(`/${run}/${JWS}`)).toBe(`/${run}/[token ${fp(JWS)}]`);
    expect(rawPathWithoutTokens(`/${'%65yJ'.repeat(1600)}`)).toBe(`/${'%65yJ'.repeat(1600)}`);
    expect(carriesCompactToken(`${run} ${JWS}`)).toBe(true);
    expect(carriesCompactToken(run)).toBe(false);
  });

  it('past 8 token-shaped runs that are no token, the rest of a path is named as one token, and text counts as carrying one', () => {
    const notJose = `${b64({ alg: 1 })}.x.y`; // shaped, its header names no alg string
    const eight = `${notJose}/`.repeat(8);
    expect(pathWithoutTokens(`/a/${eight}b`)).toBe(`/a/${eight}b`);
    expect(pathWithoutTokens(`/a/${eight}${notJose}/c`)).toBe(`/a/${eight}[token ${fp(`${notJose}/c`)}]`);
    expect(pathWithoutTokens(`/a/${eight}${JWS}`)).toBe(`/a/${eight}[token ${fp(JWS)}]`);
    expect(carriesCompactToken(`${eight} x`)).toBe(false);
    expect(carriesCompactToken(`${eight} ${notJose}`)).toBe(true);
  });
});
